// Package health owns the health check keepalived fails over on: the agent
// runs the rendered check (the user's OPENSHIFT_HA_CHECK_SCRIPT or the
// built-in TCP connect) serially with a timeout and writes every result to
// the file keepalived's track_file reads, so a failing check moves the VIPs.
// It also implements that built-in TCP check (`ipfailover check tcp`).
//
// It is part of failover, not of observability: the monitor only reads the
// results it keeps.
package health

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ipfailover/ipfailover/internal/runfile"
	"github.com/ipfailover/ipfailover/render"
	"github.com/ipfailover/ipfailover/scripts"
)

// killGrace is how long a check that timed out gets after SIGTERM before
// its process group is killed.
const killGrace = time.Second

// Options configures a Runner.
type Options struct {
	// Check is the rendered health check (render.Plan.Check).
	Check render.Check
	// StatusFile is where each result is written for keepalived's
	// track_file (render.Options.CheckFile).
	StatusFile string
	// SkipMissing disables the check while its program is missing or not
	// executable, as keepalived did for a user's script: set for
	// OPENSHIFT_HA_CHECK_SCRIPT, not for the built-in check.
	SkipMissing bool
	// OnResult, if set, is called after every run (metrics). It must not
	// block.
	OnResult func(scripts.Result)
	// OnDelivery, if set, is called when writing results for keepalived
	// starts failing (with the error) and when it works again (nil). It
	// must not block.
	OnDelivery func(error)
	// Exec runs one check (nil: scripts.RunCommand); tests fake it.
	Exec scripts.ExecFunc
	Log  *slog.Logger
}

// Runner runs the health check and records its results where keepalived
// reads them.
type Runner struct {
	check   render.Check
	file    string
	checker *scripts.Checker
	log     *slog.Logger
	onRes   func(scripts.Result)

	onDeliv func(error)

	mu          sync.Mutex
	timeouts    uint64
	undelivered string // why the last result could not be written, or ""

	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Runner for o; Start runs it.
func New(o Options) *Runner {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runner{check: o.Check, file: o.StatusFile, log: log, onRes: o.OnResult, onDeliv: o.OnDelivery}
	r.checker = &scripts.Checker{
		Command:     Command(o.Check.Command),
		SkipMissing: o.SkipMissing,
		Interval:    time.Duration(o.Check.Interval) * time.Second,
		Timeout:     time.Duration(o.Check.Timeout) * time.Second,
		KillGrace:   killGrace,
		Exec:        o.Exec,
		Log:         log.With("check", o.Check.Name),
		Done:        r.record,
	}
	return r
}

// Start runs the check once and returns when its result is on disk, so
// keepalived reads a real result when it starts (the run is bounded by the
// check's timeout), then keeps running it every interval until ctx ends or
// Stop is called.
func (r *Runner) Start(ctx context.Context) {
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = make(chan struct{})
	r.checker.Check(ctx)
	go func() {
		defer close(r.done)
		r.checker.Run(ctx)
	}()
}

// Stop ends the runs and waits for the one in flight.
func (r *Runner) Stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
}

// record records one result: the status file first, since keepalived acts
// on it.
func (r *Runner) record(res scripts.Result) {
	err := WriteStatus(r.file, res.OK())
	r.mu.Lock()
	was := r.undelivered
	r.undelivered = ""
	if err != nil {
		r.undelivered = err.Error()
	}
	if res.TimedOut {
		r.timeouts++
	}
	r.mu.Unlock()
	switch {
	case err != nil && was == "":
		// keepalived would keep acting on the previous result, possibly
		// "healthy": the caller fails closed.
		r.log.Error("cannot deliver the health check result to keepalived: failing closed until it can be written", "file", r.file, "err", err)
	case err == nil && was != "":
		r.log.Info("health check results reach keepalived again", "file", r.file)
	}
	if r.onDeliv != nil && (err != nil) != (was != "") {
		r.onDeliv(err)
	}
	if r.onRes != nil {
		r.onRes(res)
	}
}

// Undelivered is why the latest result could not be written for
// keepalived, or "" when it was.
func (r *Runner) Undelivered() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.undelivered
}

// Check is the rendered check the runner runs.
func (r *Runner) Check() render.Check { return r.check }

// Failing reports whether the latest run failed (false before any run).
func (r *Runner) Failing() bool { return r.checker.Failing() }

// Last returns the latest result, and false before the first run ended.
func (r *Runner) Last() (scripts.Result, bool) { return r.checker.Last() }

// Unavailable is why the check is disabled right now (its program cannot
// be run), or "".
func (r *Runner) Unavailable() string { return r.checker.Unavailable() }

// Timeouts is how many runs were killed at the timeout.
func (r *Runner) Timeouts() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.timeouts
}

// Command is the command line the agent runs for a rendered check line:
// the built-in TCP check names render.CheckProgram, which is this binary
// wherever it is installed.
func Command(rendered string) string {
	prog, rest, _ := strings.Cut(rendered, " ")
	if prog != render.CheckProgram {
		return rendered
	}
	self, err := os.Executable()
	if err != nil {
		self = "/proc/self/exe"
	}
	return self + " " + rest
}

// TCP is the built-in check: it connects to target (host:port) within
// timeout. It lives in the binary so the image needs no shell (the original
// image ran bash's /dev/tcp).
func TCP(target string, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", target, timeout)
	if err != nil {
		return fmt.Errorf("check tcp: %w", err)
	}
	// Connected: the check passed, whatever closing says.
	_ = conn.Close()
	return nil
}

// WriteStatus records a check result where keepalived's track_file reads
// it: "0" for healthy, "1" for failing (with weight 0, keepalived puts the
// tracking instances into FAULT for any non-zero value). An unchanged value
// is not written again; a new one replaces the file by a rename, so
// keepalived never reads a half-written value, and never through a symlink.
func WriteStatus(path string, ok bool) error {
	v := []byte("1\n")
	if ok {
		v = []byte("0\n")
	}
	if cur, err := runfile.Read(path); err == nil && string(cur) == string(v) {
		return nil
	}
	if err := runfile.Replace(path, v, 0o644); err != nil {
		return fmt.Errorf("check status: %w", err)
	}
	return nil
}
