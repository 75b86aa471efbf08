package vrrpstate

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// Checker runs the health check. It is the only runner of the check:
// keepalived tracks a file the agent rewrites after every run (see
// WriteStatus), so the metrics, the status page, the FAULT reason and
// keepalived's decision all come from the same run.
type Checker struct {
	Command   string // split on white space, as keepalived does
	Interval  time.Duration
	Timeout   time.Duration
	KillGrace time.Duration
	Log       *slog.Logger
	Exec      Runner // nil: RunCommand
	// Done, if set, is called after every run.
	Done func(Result)

	mu   sync.Mutex
	last *Result
}

// Run runs the check every Interval until ctx is done, the first run at once.
func (c *Checker) Run(ctx context.Context) {
	t := time.NewTicker(c.Interval)
	defer t.Stop()
	for {
		c.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check runs the check once, records and logs the result (changes only: a
// check runs every second) and calls Done. A run cut short because ctx
// ended is not recorded.
func (c *Checker) Check(ctx context.Context) (Result, bool) {
	run := c.Exec
	if run == nil {
		run = RunCommand
	}
	log := c.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := run(ctx, Command{Argv: strings.Fields(c.Command), Timeout: c.Timeout, KillGrace: c.KillGrace})
	if ctx.Err() != nil {
		return r, false
	}
	c.mu.Lock()
	prev := c.last
	c.last = &r
	c.mu.Unlock()
	if ok := r.OK(); prev == nil || prev.OK() != ok {
		if ok {
			log.Info("health check passing", "command", c.Command, "duration", r.Duration.Round(time.Millisecond))
		} else {
			log.Warn("health check failing", "command", c.Command, "result", r.Describe(), "output", r.Output)
		}
	}
	if c.Done != nil {
		c.Done(r)
	}
	return r, true
}

// Last returns the latest result, and false before the first run ended.
func (c *Checker) Last() (Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		return Result{}, false
	}
	return *c.last, true
}

// Failing reports whether the latest run failed (false before any run).
func (c *Checker) Failing() bool {
	r, ok := c.Last()
	return ok && !r.OK()
}

// WriteStatus records a check result where keepalived's track_file reads
// it: "0" for healthy, "1" for failing (with weight 0, keepalived puts the
// tracking instances into FAULT for any non-zero value). The file is
// replaced by a rename, so keepalived never reads a half-written value.
func WriteStatus(path string, ok bool) error {
	v := []byte("1\n")
	if ok {
		v = []byte("0\n")
	}
	if cur, err := os.ReadFile(path); err == nil && string(cur) == string(v) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, v, 0o644); err != nil {
		return fmt.Errorf("write check status: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write check status: %w", err)
	}
	return nil
}
