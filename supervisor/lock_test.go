package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLockExclusive: flock locks belong to an open file description, so
// two opens in one process contend like two agents would.
func TestLockExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cfg.lock")
	release, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(path)
	if err != nil || st.Mode() != 0o600 {
		t.Errorf("lock file mode %v (%v), want 0600", st.Mode(), err)
	}

	_, err = Lock(path)
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() || le.Path != path {
		t.Fatalf("second Lock = %v, want *LockedError with pid %d", err, os.Getpid())
	}
	if msg := err.Error(); !strings.Contains(msg, "pid "+strconv.Itoa(os.Getpid())) || !strings.Contains(msg, "OPENSHIFT_HA_CONFIG_NAME") {
		t.Errorf("message %q lacks the holder's pid or the way out", msg)
	}

	release()
	release() // idempotent
	again, err := Lock(path)
	if err != nil {
		t.Fatalf("Lock after release = %v", err)
	}
	again()
}

func TestLockRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "passwd")
	writeFile(t, target, "root:x:0:0\n", 0o644)
	path := filepath.Join(dir, "cfg.lock")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(path); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("Lock through a symlink = %v", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "root:x:0:0\n" {
		t.Errorf("link target changed: %q", b)
	}
}

func TestLockUnknownHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cfg.lock")
	release, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	writeFile(t, path, "garbage", 0o600) // the pid is informative only
	_, err = Lock(path)
	var le *LockedError
	if !errors.As(err, &le) || le.PID != 0 || strings.Contains(err.Error(), "pid") {
		t.Errorf("Lock = %v, want *LockedError without a pid", err)
	}
}
