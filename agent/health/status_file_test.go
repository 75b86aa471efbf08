package health

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteStatus(t *testing.T) {
	path := filepath.Join(t.TempDir(), "check.status")
	for _, c := range []struct {
		ok   bool
		want string
	}{{true, "0\n"}, {false, "1\n"}, {false, "1\n"}, {true, "0\n"}} {
		if err := WriteStatus(path, c.ok); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.want {
			t.Errorf("WriteStatus(%v) wrote %q, want %q", c.ok, got, c.want)
		}
	}
	if err := WriteStatus(filepath.Join(t.TempDir(), "missing", "x"), true); err == nil {
		t.Error("want an error for a missing directory")
	}
}

// TestWriteStatusRefusesSymlink: a link planted in the run directory must
// not make the agent write through it.
func TestWriteStatusRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	if err := os.WriteFile(target, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "check.status")
	if err := os.Symlink(target, path+".tmp"); err != nil {
		t.Fatal(err)
	}
	if err := WriteStatus(path, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep\n" {
		t.Errorf("wrote through the symlink: %q", b)
	}
	if b, _ := os.ReadFile(path); string(b) != "0\n" {
		t.Errorf("status %q", b)
	}
}
