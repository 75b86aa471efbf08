package supervisor

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/internal/procfs"
)

// TestHungKeepalivedIsReplaced: a stopped keepalived (parent or VRRP
// child) or a failing Liveness gets the whole tree SIGKILLed, the VIPs
// released and a new keepalived at once, not after the crash backoff.
func TestHungKeepalivedIsReplaced(t *testing.T) {
	const vrrpChild = 5000
	tests := []struct {
		name       string
		stopParent bool
		stopChild  bool
		liveness   bool // Liveness reports "no dump answer"
		wantReason string
		wantPID    func(parent int) int
	}{
		{"parent stopped", true, false, false, "is stopped (state T", func(p int) int { return p }},
		{"VRRP child stopped", false, true, false, "is stopped (state T", func(int) int { return vrrpChild }},
		{"liveness failing", false, false, true, "no dump answer", func(p int) int { return p }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			const hang = 200 * time.Millisecond
			o := h.options()
			o.HangTimeout = hang
			o.BackoffMin, o.BackoffMax = time.Hour, time.Hour // a backoff restart would never come
			failing := make(chan bool, 1)
			failing <- false
			o.Liveness = func() (bool, string) {
				f := <-failing
				failing <- f
				if f {
					return false, "no dump answer"
				}
				return true, ""
			}
			h.start(o)
			p := h.fx.waitStarted(t)
			h.fx.mu.Lock()
			h.fx.children[p.pid] = []procfs.Proc{
				{PID: vrrpChild, PPID: p.pid, Comm: "keepalived", State: 'S'},
				{PID: 5001, PPID: vrrpChild, Comm: "check.sh", State: 'T'}, // a stopped script is not keepalived
			}
			if tc.stopChild {
				h.fx.children[p.pid][0].State = 'T'
			}
			h.fx.mu.Unlock()
			h.fx.waitTreeCalls(t, 2)
			if len(h.fx.procs) != 1 {
				t.Fatal("replaced while only a script was stopped")
			}

			begin := time.Now()
			switch {
			case tc.stopParent:
				h.fx.setState(p.pid, 'T')
			case tc.stopChild:
				h.fx.mu.Lock()
				h.fx.children[p.pid][0].State = 'T'
				h.fx.mu.Unlock()
			case tc.liveness:
				<-failing
				failing <- true
			}
			ev, _ := h.ev.next(t, EventHung)
			took := time.Since(begin)
			if ev.PID != tc.wantPID(p.pid) || !strings.Contains(ev.Reason, tc.wantReason) {
				t.Errorf("hung event %+v, want pid %d and reason %q", ev, tc.wantPID(p.pid), tc.wantReason)
			}
			if took > hang+time.Second {
				t.Errorf("replaced %v after the hang began, want about %v", took, hang)
			}
			<-failing
			failing <- false // the new keepalived is fine

			ex, _ := h.ev.next(t, EventExited)
			if ex.Expected || ex.PID != p.pid || ex.Status.Signal != syscall.SIGKILL || !strings.Contains(ex.Reason, "killed by the supervisor") {
				t.Errorf("exit event %+v", ex)
			}
			if rs, _ := h.ev.next(t, EventRestartScheduled); rs.Delay != 0 {
				t.Errorf("restart delay %v, want immediate", rs.Delay)
			}
			next := h.fx.waitStarted(t)
			if next.pid == p.pid {
				t.Fatal("not restarted")
			}
			if sigs := p.signals(); !slices.Contains(sigs, os.Signal(syscall.SIGKILL)) {
				t.Errorf("old keepalived got %v, want SIGKILL", sigs)
			}
			h.fx.mu.Lock()
			killed := slices.Clone(h.fx.killed)
			h.fx.mu.Unlock()
			for _, pid := range []int{vrrpChild, 5001} {
				if !slices.Contains(killed, pid) {
					t.Errorf("process %d of the hung tree not killed (killed %v)", pid, killed)
				}
			}
			if n := h.rel.count(); n != 1 {
				t.Errorf("ReleaseVIPs called %d times, want 1", n)
			}
		})
	}
}

// TestBriefStopIsTolerated: a stop shorter than HangTimeout (a debugger
// attached for a moment) does not replace keepalived; the clock is fake, so
// "longer than HangTimeout" does not depend on the test's speed.
func TestBriefStopIsTolerated(t *testing.T) {
	h := newHarness(t)
	clk := newFakeClock()
	o := h.options()
	o.Now = clk.Now
	o.HangTimeout = 40 * time.Millisecond // polls every 10ms
	h.start(o)
	p := h.fx.waitStarted(t)

	h.fx.setState(p.pid, 'T')
	h.fx.waitTreeCalls(t, 2)
	clk.advance(30 * time.Millisecond)
	h.fx.setState(p.pid, 'S')
	h.fx.waitTreeCalls(t, 2)
	clk.advance(time.Hour)
	h.fx.waitTreeCalls(t, 2)
	h.ev.mu.Lock()
	for _, ev := range h.ev.all {
		if ev.Kind == EventHung {
			t.Errorf("replaced after a brief stop: %+v", ev)
		}
	}
	h.ev.mu.Unlock()

	// Stopped again, now for longer than HangTimeout.
	h.fx.setState(p.pid, 'T')
	h.fx.waitTreeCalls(t, 2)
	clk.advance(40 * time.Millisecond)
	if ev, _ := h.ev.next(t, EventHung); ev.PID != p.pid {
		t.Errorf("hung event %+v", ev)
	}
	h.fx.waitStarted(t)
}

func TestHangCheckDisabled(t *testing.T) {
	h := newHarness(t)
	o := h.options()
	o.HangTimeout = -1
	o.Liveness = func() (bool, string) { return false, "always failing" }
	h.start(o)
	p := h.fx.waitStarted(t)
	h.fx.setState(p.pid, 'T')
	h.ev.next(t, EventReady) // Run's loop is running
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	h.fx.mu.Lock()
	defer h.fx.mu.Unlock()
	if h.fx.treeCalls != 0 || len(h.fx.procs) != 1 {
		t.Errorf("progress checked %d times, %d keepalived started; want none and one", h.fx.treeCalls, len(h.fx.procs))
	}
}

// TestRealStoppedProcessIsReplaced runs a fake keepalived (a shell script
// named keepalived, so /proc shows that command name) under Run with the
// real OSExecer, SIGSTOPs it, and expects it killed and replaced.
func TestRealStoppedProcessIsReplaced(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "keepalived")
	script := "#!/bin/sh\ncase \"$1\" in -t) exit 0;; esac\nwhile :; do sleep 0.05; done\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	o := h.options()
	o.Binary = bin
	o.ExtraArgs = nil
	o.Exec = OSExecer{}
	o.HangTimeout = 300 * time.Millisecond
	o.BackoffMin, o.BackoffMax = time.Hour, time.Hour
	h.start(o)
	ev, _ := h.ev.next(t, EventStarted)
	old := ev.PID
	if p, err := procfs.Read("/proc", old); err != nil || p.Comm != "keepalived" {
		t.Skipf("script's command name is %q (%v), not keepalived", p.Comm, err)
	}
	if err := syscall.Kill(old, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(old, syscall.SIGKILL) })
	ev, _ = h.ev.next(t, EventHung)
	if ev.PID != old || !strings.Contains(ev.Reason, "stopped") {
		t.Errorf("hung event %+v", ev)
	}
	ev, _ = h.ev.next(t, EventStarted)
	if ev.PID == old {
		t.Fatal("not restarted")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, err := procfs.Read("/proc", old)
		if err != nil || !p.Live() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stopped keepalived %d still there (state %c)", old, p.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
}
