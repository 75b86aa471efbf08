package vrrpstate

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Checker runs the same health check keepalived tracks (same command line,
// interval and timeout), because keepalived reports a vrrp_script's result
// nowhere the agent can read it reliably (its JSON dump omits scripts). Its
// results feed the check metrics, the status page and the FAULT reason.
// Its runs are independent of keepalived's, so right at a state change the
// two may briefly disagree.
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
	run := c.Exec
	if run == nil {
		run = RunCommand
	}
	log := c.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(c.Interval)
	defer t.Stop()
	var wasOK *bool
	for {
		r := run(ctx, Command{Argv: strings.Fields(c.Command), Timeout: c.Timeout, KillGrace: c.KillGrace})
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		c.last = &r
		c.mu.Unlock()
		if ok := r.OK(); wasOK == nil || *wasOK != ok {
			// Log changes only: a check runs every second.
			if ok {
				log.Info("health check passing", "command", c.Command, "duration", r.Duration.Round(time.Millisecond))
			} else {
				log.Warn("health check failing", "command", c.Command, "result", r.Describe(), "output", r.Output)
			}
			wasOK = &ok
		}
		if c.Done != nil {
			c.Done(r)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
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
