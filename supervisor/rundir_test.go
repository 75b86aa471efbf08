package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrepareRunDirCreatesPrivateDirs(t *testing.T) {
	base := t.TempDir()
	path := filepath.Join(base, "ipfailover", "cfg")
	if err := PrepareRunDir(path); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Dir(path), path} {
		st, err := os.Lstat(p)
		if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 || ownerOf(st) != os.Getuid() {
			t.Errorf("%s: %v (%v), want a 0700 directory owned by uid %d", p, st.Mode(), err, os.Getuid())
		}
	}
	if err := PrepareRunDir(path); err != nil {
		t.Errorf("second call on the private directory: %v", err)
	}
}

func TestPrepareRunDirRefusesUnsafe(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, path string)
		want  string
	}{
		{"symbolic link to a private dir", func(t *testing.T, path string) {
			target := filepath.Join(filepath.Dir(path), "elsewhere")
			mkdir(t, target, 0o700)
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}, "symbolic link"},
		{"regular file", func(t *testing.T, path string) { writeFile(t, path, "", 0o600) }, "not a directory"},
		{"readable by others", func(t *testing.T, path string) { mkdir(t, path, 0o755) }, "group or others"},
		{"group access only", func(t *testing.T, path string) { mkdir(t, path, 0o710) }, "group or others"},
		{"another owner", func(t *testing.T, path string) {
			if os.Geteuid() != 0 {
				t.Skip("chown needs root")
			}
			mkdir(t, path, 0o700)
			if err := os.Chown(path, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, "owned by uid 65534"},
		{"parent writable by others", func(t *testing.T, path string) {
			if err := os.Chmod(filepath.Dir(path), 0o777); err != nil {
				t.Fatal(err)
			}
		}, "parent directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := filepath.Join(t.TempDir(), "ipfailover")
			mkdir(t, parent, 0o700)
			path := filepath.Join(parent, "cfg")
			tc.setup(t, path)
			err := PrepareRunDir(path)
			var rde *RunDirError
			if !errors.As(err, &rde) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "0700") {
				t.Fatalf("PrepareRunDir = %v, want a *RunDirError mentioning %q and what is accepted", err, tc.want)
			}
		})
	}
}

func TestPrepareRunDirStickyParentAllowed(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "shared")
	mkdir(t, parent, 0o777|os.ModeSticky)
	if err := PrepareRunDir(filepath.Join(parent, "cfg")); err != nil {
		t.Errorf("sticky world-writable parent (like /tmp): %v", err)
	}
}

func TestRunRefusesUnsafeRunDir(t *testing.T) {
	h := newHarness(t)
	mkdir(t, h.run, 0o777)
	h.start(h.options())
	err := <-h.done
	h.done <- err
	var rde *RunDirError
	if !errors.As(err, &rde) {
		t.Fatalf("Run = %v, want a *RunDirError", err)
	}
	if len(h.fx.procs) != 0 {
		t.Error("keepalived started")
	}
}

func mkdir(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}
