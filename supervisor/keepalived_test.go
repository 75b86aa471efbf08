package supervisor

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

type harness struct {
	t    *testing.T
	dir  string
	conf string
	run  string
	fx   *fakeExec
	r    *mutableRender
	rel  *releases
	ev   *events
	hup  chan struct{}
	stop context.CancelFunc
	done chan error
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newHarness(t *testing.T) *harness {
	dir := t.TempDir()
	return &harness{
		t: t, dir: dir,
		conf: filepath.Join(dir, "etc", "keepalived.conf"),
		run:  filepath.Join(dir, "run"),
		fx:   newFakeExec(t), r: &mutableRender{data: "config v1\n"}, rel: &releases{}, ev: newEvents(),
		hup: make(chan struct{}, 1), done: make(chan error, 1),
	}
}

func (h *harness) options() Options {
	return Options{
		Logger:       testLogger(h.t),
		Binary:       "/fake/keepalived",
		ConfigPath:   h.conf,
		ExtraArgs:    []string{"--vrrp"},
		RunDir:       h.run,
		Render:       h.r.render,
		ReleaseVIPs:  h.rel.release,
		StopTimeout:  time.Second,
		BackoffMin:   10 * time.Millisecond,
		BackoffMax:   40 * time.Millisecond,
		StablePeriod: time.Hour,
		Debounce:     50 * time.Millisecond,
		ReadyTimeout: 100 * time.Millisecond,
		Exec:         h.fx,
		OnEvent:      h.ev.hook,
	}
}

// start runs Run in the background with o.
func (h *harness) start(o Options) {
	if err := os.MkdirAll(filepath.Dir(h.conf), 0o755); err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() { h.done <- Run(ctx, o, h.hup) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			h.t.Error("Run did not return after cancel")
		}
	})
}

// shutdown cancels Run and returns its result.
func (h *harness) shutdown() error {
	h.t.Helper()
	h.stop()
	select {
	case err := <-h.done:
		h.done <- err // let Cleanup see it too
		return err
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return after cancel")
		return nil
	}
}

func (h *harness) readConf() string {
	h.t.Helper()
	b, err := os.ReadFile(h.conf)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

// leftovers lists staged temp files left next to the config.
func (h *harness) leftovers() []string {
	m, _ := filepath.Glob(filepath.Join(filepath.Dir(h.conf), ".keepalived.conf.tmp-*"))
	return m
}

func TestRunStartsAfterCheckedAtomicWriteAndStops(t *testing.T) {
	h := newHarness(t)
	// Stale pid files from an earlier container; pid 1 is not keepalived.
	if err := os.MkdirAll(h.run, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"keepalived.pid", "vrrp.pid"} {
		if err := os.WriteFile(filepath.Join(h.run, n), []byte("1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h.start(h.options())
	p := h.fx.waitStarted(t)

	// The check ran on a staged file next to the config, with the new bytes,
	// before the config existed under its real name.
	checks := h.fx.checkCalls()
	if len(checks) != 1 {
		t.Fatalf("checks = %d, want 1", len(checks))
	}
	c := checks[0]
	if filepath.Dir(c.file) != filepath.Dir(h.conf) || c.file == h.conf {
		t.Errorf("checked %s, want a staged file beside %s", c.file, h.conf)
	}
	if c.content != markerLine+"config v1\n" {
		t.Errorf("checked content %q", c.content)
	}
	if want := []string{"-t", "-e", "-f", c.file}; !slices.Equal(c.args, want) {
		t.Errorf("check args %v, want %v", c.args, want)
	}
	if got := h.readConf(); got != markerLine+"config v1\n" {
		t.Errorf("config = %q", got)
	}
	if st, err := os.Stat(h.conf); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("config mode = %v, %v; want 0600", st.Mode(), err)
	}
	if l := h.leftovers(); len(l) != 0 {
		t.Errorf("staged files left: %v", l)
	}
	for _, n := range []string{"keepalived.pid", "vrrp.pid"} {
		if _, err := os.Stat(filepath.Join(h.run, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stale pid file %s not removed: %v", n, err)
		}
	}

	wantArgs := []string{"--dont-fork", "--log-console", "-f", h.conf,
		"-p", filepath.Join(h.run, "keepalived.pid"), "-r", filepath.Join(h.run, "vrrp.pid"),
		"-c", filepath.Join(h.run, "checkers.pid"), "-b", filepath.Join(h.run, "bfd.pid"), "--vrrp"}
	if p.name != "/fake/keepalived" || !slices.Equal(p.args, wantArgs) {
		t.Errorf("started %s %v\nwant %v", p.name, p.args, wantArgs)
	}
	if !slices.Contains(p.env, "TMPDIR="+h.run) {
		t.Errorf("env lacks TMPDIR=%s", h.run)
	}

	if err := h.shutdown(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if sigs := p.signals(); !slices.Equal(sigs, []os.Signal{syscall.SIGTERM}) {
		t.Errorf("signals = %v, want [SIGTERM]", sigs)
	}
	if n := h.rel.count(); n != 1 {
		t.Errorf("ReleaseVIPs called %d times, want 1", n)
	}
	var kinds []string
	for len(h.ev.ch) > 0 {
		kinds = append(kinds, string((<-h.ev.ch).Kind))
	}
	want := []string{"reload_ok", "started", "ready", "exited", "stopped"}
	if !slices.Equal(kinds, want) && !slices.Equal(kinds, slices.Delete(slices.Clone(want), 2, 3)) {
		t.Errorf("events = %v, want %v (ready optional)", kinds, want)
	}
}

func TestRunFailsWhenFirstConfigRejected(t *testing.T) {
	tests := []struct {
		name     string
		existing string // config already on disk ("" = none)
	}{
		{"new file", ""},
		{"unchanged leftover file is checked too", markerLine + "bad config\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.fx.checkFn = rejectBad
			h.r.set("bad config\n")
			if tc.existing != "" {
				if err := os.MkdirAll(filepath.Dir(h.conf), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(h.conf, []byte(tc.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			h.start(h.options())
			var err error
			select {
			case err = <-h.done:
				h.done <- err
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not fail")
			}
			if !errors.Is(err, ErrConfigCheck) {
				t.Fatalf("err = %v, want ErrConfigCheck", err)
			}
			if !strings.Contains(err.Error(), "Unknown keyword 'bad'") {
				t.Errorf("error lacks keepalived output: %v", err)
			}
			if len(h.fx.procs) != 0 {
				t.Errorf("keepalived started despite failed check")
			}
			if tc.existing == "" {
				if _, err := os.Stat(h.conf); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("rejected config was installed: %v", err)
				}
			}
			if l := h.leftovers(); len(l) != 0 {
				t.Errorf("staged files left: %v", l)
			}
		})
	}
}

func TestReload(t *testing.T) {
	tests := []struct {
		name      string
		newConfig string
		wantKind  EventKind
		wantConf  string
		wantHUP   bool
		wantCheck bool
	}{
		{"unchanged bytes: no write, no check, no HUP", "config v1\n", EventReloadUnchanged, "config v1\n", false, false},
		{"changed and valid: replace and HUP", "config v2\n", EventReloadOK, "config v2\n", true, true},
		{"changed but rejected: file untouched, no HUP", "bad v2\n", EventReloadFailed, "config v1\n", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.fx.checkFn = rejectBad
			h.start(h.options())
			p := h.fx.waitStarted(t)
			h.ev.next(t, EventReady)
			before, err := os.Stat(h.conf)
			if err != nil {
				t.Fatal(err)
			}
			checksBefore := len(h.fx.checkCalls())

			h.r.set(tc.newConfig)
			h.hup <- struct{}{}
			ev, _ := h.ev.next(t, EventReloadOK, EventReloadFailed, EventReloadUnchanged)
			if ev.Kind != tc.wantKind || ev.Trigger != TriggerSIGHUP {
				t.Fatalf("event %s/%s, want %s/%s", ev.Kind, ev.Trigger, tc.wantKind, TriggerSIGHUP)
			}
			if tc.wantHUP {
				if ev, _ := h.ev.next(t, EventHUPSent); ev.PID != p.pid {
					t.Errorf("HUP to pid %d, want %d", ev.PID, p.pid)
				}
			}
			if got := h.readConf(); got != markerLine+tc.wantConf {
				t.Errorf("config = %q, want %q", got, tc.wantConf)
			}
			after, err := os.Stat(h.conf)
			if err != nil {
				t.Fatal(err)
			}
			if replaced := !os.SameFile(before, after); replaced != tc.wantHUP {
				t.Errorf("config file replaced = %v, want %v", replaced, tc.wantHUP)
			}
			if checked := len(h.fx.checkCalls()) > checksBefore; checked != tc.wantCheck {
				t.Errorf("ran keepalived -t = %v, want %v", checked, tc.wantCheck)
			}
			if l := h.leftovers(); len(l) != 0 {
				t.Errorf("staged files left: %v", l)
			}
			if err := h.shutdown(); err != nil {
				t.Fatal(err)
			}
			sigs := p.signals()
			if got := slices.Contains(sigs, os.Signal(syscall.SIGHUP)); got != tc.wantHUP {
				t.Errorf("signals %v: HUP sent = %v, want %v", sigs, got, tc.wantHUP)
			}
		})
	}
}

func TestHUPWaitsForReadiness(t *testing.T) {
	tests := []struct {
		name   string
		marker string // readiness line keepalived prints ("" = rely on the fallback)
	}{
		{"log line", "Fri Nov 27 00:02:47 2026: Starting VRRP child process, pid=4774"},
		{"fallback timeout", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			o := h.options()
			o.ReadyTimeout = 300 * time.Millisecond
			if tc.marker != "" {
				o.ReadyTimeout = time.Hour // only the log line can make it ready
			}
			h.start(o)
			p := h.fx.waitStarted(t)
			h.ev.next(t, EventStarted)

			// A reload right after start must not HUP yet.
			h.r.set("config v2\n")
			h.hup <- struct{}{}
			h.ev.next(t, EventReloadOK)
			if tc.marker != "" {
				p.say(tc.marker)
			}
			_, skipped := h.ev.next(t, EventReady)
			if len(skipped) != 0 {
				t.Errorf("events before ready: %v", kindsOf(skipped))
			}
			// The HUP follows readiness; it was never sent before.
			if _, skipped := h.ev.next(t, EventHUPSent); len(skipped) != 0 {
				t.Errorf("events between ready and HUP: %v", kindsOf(skipped))
			}
			if sigs := p.signals(); !slices.Equal(sigs, []os.Signal{syscall.SIGHUP}) {
				t.Errorf("signals after ready = %v, want [SIGHUP]", sigs)
			}
		})
	}
}

func TestRestartWithBackoffAfterCrash(t *testing.T) {
	tests := []struct {
		name   string
		stable time.Duration
		want   []time.Duration
	}{
		{"doubling and capped", time.Hour, []time.Duration{10, 20, 40, 40}},
		{"reset after stable runs", time.Nanosecond, []time.Duration{10, 10, 10, 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			o := h.options()
			o.StablePeriod = tc.stable
			h.start(o)
			p := h.fx.waitStarted(t)
			for i, want := range tc.want {
				p.Exit(ExitStatus{Code: 1})
				ev, _ := h.ev.next(t, EventExited)
				if ev.Expected || ev.Status.Code != 1 || !strings.Contains(ev.Reason, "fatal") || ev.PID != p.pid {
					t.Errorf("exit event %+v", ev)
				}
				ev, _ = h.ev.next(t, EventRestartScheduled)
				if n := h.rel.count(); n != i+1 {
					t.Errorf("after crash %d: ReleaseVIPs called %d times", i+1, n)
				}
				if ev.Delay != want*time.Millisecond {
					t.Errorf("crash %d: delay %v, want %v", i+1, ev.Delay, want*time.Millisecond)
				}
				next := h.fx.waitStarted(t)
				if next.pid == p.pid {
					t.Fatal("same process restarted")
				}
				p = next
			}
			if err := h.shutdown(); err != nil {
				t.Fatal(err)
			}
			if n := h.rel.count(); n != len(tc.want)+1 {
				t.Errorf("ReleaseVIPs called %d times, want %d", n, len(tc.want)+1)
			}
		})
	}
}

func TestRestartPicksUpNewConfig(t *testing.T) {
	h := newHarness(t)
	h.start(h.options())
	p := h.fx.waitStarted(t)
	h.r.set("config v2\n")
	p.Exit(ExitStatus{Code: -1, Signal: syscall.SIGSEGV})
	ev, _ := h.ev.next(t, EventExited)
	if !strings.Contains(ev.Reason, "crashed") {
		t.Errorf("reason %q", ev.Reason)
	}
	ev, _ = h.ev.next(t, EventReloadOK)
	if ev.Trigger != TriggerRestart {
		t.Errorf("trigger %q", ev.Trigger)
	}
	h.fx.waitStarted(t)
	if got := h.readConf(); got != markerLine+"config v2\n" {
		t.Errorf("config = %q", got)
	}
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	h := newHarness(t)
	h.fx.ignoreTERM = true
	o := h.options()
	o.StopTimeout = 50 * time.Millisecond
	h.start(o)
	p := h.fx.waitStarted(t)
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	if sigs := p.signals(); !slices.Equal(sigs, []os.Signal{syscall.SIGTERM, syscall.SIGKILL}) {
		t.Errorf("signals = %v, want [SIGTERM SIGKILL]", sigs)
	}
	ev, _ := h.ev.next(t, EventExited)
	if !ev.Expected || ev.Status.Signal != syscall.SIGKILL {
		t.Errorf("exit event %+v", ev)
	}
	h.ev.next(t, EventStopped)
	if n := h.rel.count(); n != 1 {
		t.Errorf("ReleaseVIPs called %d times, want 1", n)
	}
}

func TestStopDuringBackoffReleasesVIPs(t *testing.T) {
	h := newHarness(t)
	o := h.options()
	o.BackoffMin, o.BackoffMax = time.Hour, time.Hour
	h.start(o)
	p := h.fx.waitStarted(t)
	p.Exit(ExitStatus{Code: 2})
	h.ev.next(t, EventRestartScheduled)
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	if n := h.rel.count(); n != 2 {
		t.Errorf("ReleaseVIPs called %d times, want 2 (crash and stop)", n)
	}
	if len(h.fx.procs) != 1 {
		t.Errorf("started %d processes, want 1", len(h.fx.procs))
	}
}

func TestLeftoverKeepalived(t *testing.T) {
	tests := []struct {
		name       string
		scans      int // how many scans still see the leftover
		stop       time.Duration
		wantKilled []int
	}{
		// StopTimeout far above the three 50ms scans, so a loaded machine
		// cannot turn waiting into killing.
		{"exits by itself: waited for", 3, 5 * time.Second, nil},
		{"never exits: killed after StopTimeout", 1 << 30, 300 * time.Millisecond, []int{4242}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.fx.alive[4242] = tc.scans
			o := h.options()
			o.StopTimeout = tc.stop
			h.start(o)
			h.fx.waitStarted(t)
			h.fx.mu.Lock()
			killed, left := slices.Clone(h.fx.killed), h.fx.alive[4242]
			h.fx.mu.Unlock()
			if !slices.Equal(killed, tc.wantKilled) {
				t.Errorf("killed %v, want %v", killed, tc.wantKilled)
			}
			if tc.wantKilled == nil && left != 0 {
				t.Errorf("started while the leftover was still alive (%d scans left)", left)
			}
		})
	}
}

func TestOptionsValidation(t *testing.T) {
	render := func(context.Context) ([]byte, error) { return nil, nil }
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no config path", Options{RunDir: "/r", Render: render}, "ConfigPath"},
		{"no run dir", Options{ConfigPath: "/c", Render: render}, "RunDir"},
		{"no render", Options{ConfigPath: "/c", RunDir: "/r"}, "Render"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Run(context.Background(), tc.o, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want mention of %s", err, tc.want)
			}
		})
	}
}

func TestExitReason(t *testing.T) {
	tests := []struct {
		st   ExitStatus
		want string
	}{
		{ExitStatus{Code: 0}, "unexpected"},
		{ExitStatus{Code: 1}, "fatal"},
		{ExitStatus{Code: 2}, "configuration error"},
		{ExitStatus{Code: 4}, "permission"},
		{ExitStatus{Code: 6}, "not found"},
		{ExitStatus{Code: 70}, "program error"},
		{ExitStatus{Code: 204}, "out of memory"},
		{ExitStatus{Code: 9}, "unknown exit code 9"},
		{ExitStatus{Code: -1, Signal: syscall.SIGKILL}, "SIGKILL"},
		{ExitStatus{Code: -1, Signal: syscall.SIGSEGV}, "crashed"},
		{ExitStatus{Code: -1, Signal: syscall.SIGTERM}, "terminated"},
	}
	for _, tc := range tests {
		if got := ExitReason(tc.st); !strings.Contains(got, tc.want) {
			t.Errorf("ExitReason(%v) = %q, want it to contain %q", tc.st, got, tc.want)
		}
	}
}
