package scripts

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/internal/procfs"
)

// running reports whether pid is a live (not zombie) process. A killed
// background child is reparented to init and reaped there, or lingers as
// init's zombie; neither runs.
func running(pid int) bool {
	p, err := procfs.Read("/proc", pid)
	return err == nil && p.Live() && !p.Zombie()
}

// runScript runs body as a shell script that records the PID of the
// background child it starts in a file, and returns the result and PID.
func runScript(t *testing.T, body string) (Result, int) {
	t.Helper()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	script := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nPIDFILE="+pidFile+"\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	r := RunCommand(context.Background(), Command{Argv: []string{script}, Timeout: 10 * time.Second, KillGrace: time.Second})
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("script wrote no child pid: %v (result %+v)", err, r)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return r, pid
}

// TestRunCommandKillsBackgroundChildren: whatever a script leaves running
// in its process group is gone once RunCommand returns, whether the script
// passed or failed, so repeated checks cannot pile up processes.
func TestRunCommandKillsBackgroundChildren(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		wantOK bool
	}{
		{"passing script", "sleep 1000 &\necho $! > $PIDFILE\nexit 0\n", true},
		{"failing script", "sleep 1000 &\necho $! > $PIDFILE\nexit 3\n", false},
		{"grandchild that ignores SIGTERM", "(trap '' TERM; sleep 1000) &\necho $! > $PIDFILE\n", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, child := runScript(t, tc.body)
			t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
			if r.OK() != tc.wantOK {
				t.Errorf("result %+v (%s), want OK %v", r, r.Describe(), tc.wantOK)
			}
			poll(t, 5*time.Second, func() error {
				if running(child) {
					return fmt.Errorf("background child %d still runs after the script ended", child)
				}
				return nil
			})
		})
	}
}

// TestRunCommandSparesDetachedChildren: a child the script moved into its
// own session is not in the run's process group and is left alone, which
// is the documented way for a script to start something long-lived.
func TestRunCommandSparesDetachedChildren(t *testing.T) {
	if _, err := os.Stat("/usr/bin/setsid"); err != nil {
		t.Skip("setsid not installed")
	}
	r, child := runScript(t, "/usr/bin/setsid sleep 1000 &\necho $! > $PIDFILE\nsleep 0.2\n")
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
	if !r.OK() {
		t.Fatalf("result %+v", r)
	}
	// setsid forks when it is a process group leader; it is not here (the
	// shell is), so $! is the detached sleep itself.
	if err := syscall.Kill(child, 0); errors.Is(err, syscall.ESRCH) || !running(child) {
		t.Errorf("detached child %d was killed", child)
	}
}
