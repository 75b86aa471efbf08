package supervisor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunCancelledDuringStartupIsCleanStop: a SIGTERM in the first
// milliseconds (before or during the first keepalived -t) stops Run with
// nil, starts nothing and reports no failed reload.
func TestRunCancelledDuringStartupIsCleanStop(t *testing.T) {
	tests := []struct {
		name string
		when string // "before" Run, or "during" the config check
	}{
		{"cancelled before Run", "before"},
		{"cancelled during keepalived -t", "during"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			hang := make(chan struct{}, 1)
			h.fx.checkHang = hang
			o := h.options()
			o.CheckTimeout = time.Hour // only cancellation can end the check
			if err := os.MkdirAll(filepath.Dir(h.conf), 0o755); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			if tc.when == "before" {
				cancel()
			}
			done := make(chan error, 1)
			go func() { done <- Run(ctx, o, nil) }()
			if tc.when == "during" {
				select {
				case <-hang:
				case <-time.After(5 * time.Second):
					t.Fatal("keepalived -t never ran")
				}
				cancel()
			}
			defer cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run = %v, want nil (a clean stop)", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
			if len(h.fx.procs) != 0 {
				t.Error("keepalived started after cancellation")
			}
			for len(h.ev.ch) > 0 {
				if ev := <-h.ev.ch; ev.Kind == EventReloadFailed {
					t.Errorf("reload_failed reported for an interrupted check: %v", ev.Err)
				}
			}
		})
	}
}

func TestCheckInterruptedIsNotARejection(t *testing.T) {
	fx := newFakeExec(t)
	fx.checkHang = make(chan struct{}, 1)
	file := filepath.Join(t.TempDir(), "k.conf")
	if err := os.WriteFile(file, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-fx.checkHang; cancel() }()
	err := checkFile(ctx, fx, "keepalived", file, time.Hour)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrConfigCheck) || strings.Contains(err.Error(), "timed out") {
		t.Errorf("cancelled check = %v, want context.Canceled and neither ErrConfigCheck nor a timeout", err)
	}

	go func() { <-fx.checkHang }()
	err = checkFile(context.Background(), fx, "keepalived", file, 20*time.Millisecond)
	if !errors.Is(err, ErrConfigCheck) || !strings.Contains(err.Error(), "timed out after 20ms") {
		t.Errorf("check past its timeout = %v, want ErrConfigCheck and a timeout", err)
	}
}

func TestRealCheckConfig(t *testing.T) {
	needRealKeepalived(t)
	if err := CheckConfig(context.Background(), realKeepalived, []byte("global_defs {\n router_id t1\n}\n"), 0); err != nil {
		t.Errorf("valid config: %v", err)
	}
	err := CheckConfig(context.Background(), realKeepalived, []byte("global_defs {\n bogus_keyword 1\n}\n"), 0)
	if !errors.Is(err, ErrConfigCheck) || !strings.Contains(err.Error(), "bogus_keyword") {
		t.Errorf("bad config: %v, want ErrConfigCheck naming the keyword", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = CheckConfig(ctx, realKeepalived, []byte("global_defs {\n router_id t1\n}\n"), 0)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrConfigCheck) {
		t.Errorf("cancelled check: %v, want context.Canceled only", err)
	}
}
