package scripts

import (
	"context"
	"errors"
	"fmt"
	"github.com/ipfailover/ipfailover/internal/procfs"
	"github.com/ipfailover/ipfailover/vrrpstate"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// poll waits for cond with a deadline instead of sleeping a fixed time.
func poll(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNotifierOrderAndSerial(t *testing.T) {
	var mu sync.Mutex
	var calls [][]string
	running, maxRunning := 0, 0
	n := &Notifier{Script: "/bin/notify arg0", Timeout: time.Second, Exec: func(ctx context.Context, c Command) Result {
		mu.Lock()
		running++
		maxRunning = max(maxRunning, running)
		calls = append(calls, c.Argv)
		mu.Unlock()
		time.Sleep(2 * time.Millisecond) // give an overlapping call a chance to show
		mu.Lock()
		running--
		mu.Unlock()
		return Result{}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)
	words := []vrrpstate.Word{vrrpstate.WordBackup, vrrpstate.WordMaster, vrrpstate.WordBackup, vrrpstate.WordFault, vrrpstate.WordBackup, vrrpstate.WordMaster, vrrpstate.WordStop, vrrpstate.WordBackup, vrrpstate.WordMaster, vrrpstate.WordDeleted}
	for i, w := range words {
		n.Enqueue(vrrpstate.Line{Scope: vrrpstate.ScopeInstance, Name: fmt.Sprintf("VI_%d", i), Word: w, Priority: 100 + i})
	}
	dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
	defer dcancel()
	n.Drain(dctx)
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != len(words) || maxRunning != 1 {
		t.Fatalf("%d calls, max %d concurrent; want %d serial", len(calls), maxRunning, len(words))
	}
	for i, c := range calls {
		want := []string{"/bin/notify", "arg0", "INSTANCE", fmt.Sprintf("VI_%d", i), string(words[i]), fmt.Sprint(100 + i)}
		if strings.Join(c, " ") != strings.Join(want, " ") {
			t.Errorf("call %d = %q, want %q", i, c, want)
		}
	}
}

// TestNotifierRealScript runs a real script for 10 rapid changes: the calls
// must land in order and never overlap (each holds a lock file).
func TestNotifierRealScript(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	script := filepath.Join(dir, "notify.sh")
	body := `#!/bin/sh
set -e
if ! mkdir "` + dir + `/lock" 2>/dev/null; then echo OVERLAP >> "` + log + `"; fi
echo "$1 $2 $3 $4" >> "` + log + `"
sleep 0.01
rmdir "` + dir + `/lock"
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	var results []Result
	var mu sync.Mutex
	n := &Notifier{Script: script, Timeout: 5 * time.Second, KillGrace: time.Second, Done: func(_ vrrpstate.Line, r Result) {
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)
	var want []string
	for i := range 10 {
		w := []vrrpstate.Word{vrrpstate.WordMaster, vrrpstate.WordBackup}[i%2]
		n.Enqueue(vrrpstate.Line{Scope: vrrpstate.ScopeInstance, Name: "VI_1", Word: w, Priority: i})
		want = append(want, fmt.Sprintf("INSTANCE VI_1 %s %d", w, i))
	}
	dctx, dcancel := context.WithTimeout(ctx, 20*time.Second)
	defer dcancel()
	n.Drain(dctx)
	got, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(got)) != strings.Join(want, "\n") {
		t.Fatalf("script log:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, r := range results {
		if !r.OK() || r.Duration <= 0 {
			t.Errorf("result %+v", r)
		}
	}
}

// TestRunCommandTimeoutKillsGroup: a hanging script and the background
// child it started are both gone after the timeout.
func TestRunCommandTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	script := filepath.Join(dir, "hang.sh")
	body := "#!/bin/sh\ntrap '' TERM\nsleep 60 &\necho $! > " + pidFile + "\nwhile :; do sleep 1; done\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := RunCommand(context.Background(), Command{Argv: []string{script}, Timeout: 300 * time.Millisecond, KillGrace: 200 * time.Millisecond})
	if !r.TimedOut || r.OK() || r.Signal != "killed" {
		t.Fatalf("result %+v (%s), want a timeout ending in SIGKILL", r, r.Describe())
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("took %v", el)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var child int
	fmt.Sscan(string(b), &child)
	poll(t, 2*time.Second, func() error {
		// The child was reparented and reaped by init (or is a zombie of
		// it); either way it must not be running.
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil {
			return nil
		}
		if p, err := procfs.ParseStat(st); err == nil && p.Zombie() {
			return nil
		}
		if err := syscall.Kill(child, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("background child %d still runs", child)
	})
}

func TestRunCommandResults(t *testing.T) {
	tests := []struct {
		argv     []string
		ok       bool
		code     int
		describe string
	}{
		{[]string{"/bin/sh", "-c", "echo hi"}, true, 0, "exit status 0"},
		{[]string{"/bin/sh", "-c", "echo bad >&2; exit 3"}, false, 3, "exit status 3"},
		{[]string{"/nonexistent/script"}, false, -1, "start /nonexistent/script"},
		{[]string{"/bin/sh", "-c", "kill -KILL $$"}, false, -1, "killed by signal killed"},
	}
	for _, tt := range tests {
		r := RunCommand(context.Background(), Command{Argv: tt.argv, Timeout: 5 * time.Second})
		if r.OK() != tt.ok || r.ExitCode != tt.code || !strings.Contains(r.Describe(), tt.describe) {
			t.Errorf("%q: ok %v code %d describe %q output %q", tt.argv, r.OK(), r.ExitCode, r.Describe(), r.Output)
		}
	}
	if r := RunCommand(context.Background(), Command{Argv: []string{"/bin/sh", "-c", "echo bad >&2; exit 3"}}); r.Output != "bad" {
		t.Errorf("output %q", r.Output)
	}
}

func TestCheckerRuns(t *testing.T) {
	var n int
	var mu sync.Mutex
	c := &Checker{Command: "/bin/check x", Interval: 10 * time.Millisecond, Timeout: time.Second, Exec: func(ctx context.Context, cmd Command) Result {
		mu.Lock()
		defer mu.Unlock()
		n++
		if strings.Join(cmd.Argv, " ") != "/bin/check x" {
			t.Errorf("argv %q", cmd.Argv)
		}
		if n >= 3 {
			return Result{ExitCode: 1, Err: errors.New("exit status 1")}
		}
		return Result{}
	}}
	if c.Failing() {
		t.Fatal("failing before any run")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	poll(t, 5*time.Second, func() error {
		if !c.Failing() {
			return errors.New("check not failing yet")
		}
		return nil
	})
}
