package scripts

import (
	"context"
	"github.com/ipfailover/ipfailover/vrrpstate"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestProgramProblem(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "ok.sh")
	plain := filepath.Join(dir, "plain.sh")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want string
	}{
		{exe, ""},
		{plain, "not executable"},
		{dir, "not a regular file"},
		{filepath.Join(dir, "missing.sh"), "no such file"},
	}
	for _, tt := range tests {
		got := ProgramProblem(tt.path)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("ProgramProblem(%s) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

// TestCheckerMissingScript: a missing check program disables the check
// (runs count as passing, as keepalived disabled a missing script for the
// original image) and it is picked up once it appears.
func TestCheckerMissingScript(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "check.sh")
	var mu sync.Mutex
	var ran int
	var results []bool
	c := &Checker{Command: script + " --strict", Interval: time.Hour, Timeout: time.Second, SkipMissing: true,
		Exec: func(ctx context.Context, cmd Command) Result {
			mu.Lock()
			defer mu.Unlock()
			ran++
			return Result{ExitCode: 1}
		},
		Done: func(r Result) {
			mu.Lock()
			defer mu.Unlock()
			results = append(results, r.OK())
		}}
	ctx := context.Background()
	c.Check(ctx)
	if ran != 0 || len(results) != 1 || !results[0] {
		t.Fatalf("missing script: ran %d, results %v; want no run and one passing result", ran, results)
	}
	if u := c.Unavailable(); !strings.Contains(u, script) {
		t.Errorf("Unavailable = %q", u)
	}
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c.Check(ctx)
	if ran != 1 || results[1] || c.Unavailable() != "" || !c.Failing() {
		t.Errorf("script appeared: ran %d, results %v, unavailable %q", ran, results, c.Unavailable())
	}
}

func TestNotifierMissingScript(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "notify.sh")
	var mu sync.Mutex
	var calls []string
	n := &Notifier{Script: script, Timeout: time.Second, SkipMissing: true,
		Exec: func(ctx context.Context, c Command) Result {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, strings.Join(c.Argv[1:], " "))
			return Result{}
		}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)
	n.Enqueue(vrrpstate.Line{Scope: "INSTANCE", Name: "a_VIP_1", Word: vrrpstate.WordMaster, Priority: 100})
	poll(t, 5*time.Second, func() error {
		if n.Unavailable() == "" {
			return os.ErrNotExist
		}
		return nil
	})
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	n.Enqueue(vrrpstate.Line{Scope: "INSTANCE", Name: "a_VIP_1", Word: vrrpstate.WordBackup, Priority: 100})
	poll(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(calls) != 1 {
			return os.ErrNotExist
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if calls[0] != "INSTANCE a_VIP_1 BACKUP 100" || n.Unavailable() != "" {
		t.Errorf("calls %v, unavailable %q", calls, n.Unavailable())
	}
}
