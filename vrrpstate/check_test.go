package vrrpstate

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
