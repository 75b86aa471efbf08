package supervisor

import (
	"testing"
	"time"
)

// TestBackoffResetsAfterHealthyRun: consecutive crashes of short runs back
// off (doubling, capped); one crash after a run of StablePeriod restarts
// after BackoffMin again, however high the backoff had climbed.
func TestBackoffResetsAfterHealthyRun(t *testing.T) {
	h := newHarness(t)
	clk := newFakeClock()
	o := h.options()
	o.Now = clk.Now
	o.StablePeriod = 0 // the default must count a 10s run as healthy
	o.BackoffMin, o.BackoffMax = 10*time.Millisecond, 40*time.Millisecond
	h.start(o)
	p := h.fx.waitStarted(t)
	// The run's start time is taken after Exec.Start returns; the event
	// follows it, so the clock only moves once the run has begun.
	h.ev.next(t, EventStarted)

	// run is how long the fake clock says each run lasted before its crash.
	steps := []struct {
		run  time.Duration
		want time.Duration
	}{
		{0, 10 * time.Millisecond},
		{time.Second, 20 * time.Millisecond},
		{0, 40 * time.Millisecond},
		{0, 40 * time.Millisecond},                // capped
		{11 * time.Second, 10 * time.Millisecond}, // healthy run: first crash again
		{0, 20 * time.Millisecond},
		{10 * time.Second, 10 * time.Millisecond}, // exactly StablePeriod counts
	}
	for i, st := range steps {
		clk.advance(st.run)
		p.Exit(ExitStatus{Code: 1})
		ev, _ := h.ev.next(t, EventRestartScheduled)
		if ev.Delay != st.want {
			t.Errorf("crash %d after a %v run: delay %v, want %v", i+1, st.run, ev.Delay, st.want)
		}
		p = h.fx.waitStarted(t)
		h.ev.next(t, EventStarted)
	}
}

func TestBackoffDelay(t *testing.T) {
	if DefaultStablePeriod > 10*time.Second {
		t.Errorf("DefaultStablePeriod %v: a run of 10s must count as healthy", DefaultStablePeriod)
	}
	lo, hi := 500*time.Millisecond, 30*time.Second
	want := []time.Duration{lo, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, hi, hi}
	for n, w := range want {
		if got := backoffDelay(lo, hi, n); got != w {
			t.Errorf("backoffDelay(%d) = %v, want %v", n, got, w)
		}
	}
	if got := backoffDelay(lo, hi, 1000); got != hi {
		t.Errorf("backoffDelay(1000) = %v, want the cap (no overflow)", got)
	}
	if DefaultBackoffMin > time.Second {
		t.Errorf("DefaultBackoffMin %v: a single crash must restart within 1s", DefaultBackoffMin)
	}
}
