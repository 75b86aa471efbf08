package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/supervisor"
)

// TestFailClosedWhenCheckResultsCannotBeWritten: keepalived acts on the
// last result it read, so while results cannot be written the agent stops
// it (releasing the VIPs) and starts it again once they can.
func TestFailClosedWhenCheckResultsCannotBeWritten(t *testing.T) {
	dir := t.TempDir()
	script, failing := filepath.Join(dir, "check.sh"), filepath.Join(dir, "failing")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ ! -e "+failing+" ]\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "OPENSHIFT_HA_CHECK_SCRIPT="+script, "OPENSHIFT_HA_CHECK_INTERVAL=1")
	f := newFakeHost()
	d := f.deps(t)
	writeProc(t, d.ProcRoot, fakePID, 'S')
	// A non-empty directory where the status file's temporary copy goes
	// makes every write fail, as a full or read-only /run would.
	blocker := filepath.Join(RunDir(d.RunDirRoot, cfg), "check.status.tmp")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var starts atomic.Int32
	f.supervise = func(ctx context.Context, o supervisor.Options) error {
		n := starts.Add(1)
		return runKeepalived(ctx, f, o, func() {
			if n == 1 {
				// The check starts failing and that cannot be written:
				// keepalived would keep reading "healthy".
				if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o700); err != nil {
					t.Error(err)
				}
				if err := os.WriteFile(failing, nil, 0o644); err != nil {
					t.Error(err)
				}
			}
		})
	}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, d, nil) }()

	waitFor(t, 5*time.Second, "keepalived stopped after results stopped reaching it", func() bool {
		return f.count("keepalived-stop") == 1 && f.count("remove-addresses") >= 2
	})
	// Held stopped: no new start while the results cannot be written.
	time.Sleep(1500 * time.Millisecond) // more than one check interval: a restart would show
	if n := starts.Load(); n != 1 {
		t.Fatalf("keepalived started %d times while results could not be delivered", n)
	}
	if err := os.RemoveAll(blocker); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(failing); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "keepalived started again once results reach it", func() bool {
		return starts.Load() == 2 && f.count("keepalived-start") == 2
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(errors.New("timed out waiting: " + what))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
