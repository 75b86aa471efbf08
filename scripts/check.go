package scripts

import (
	"context"
	"errors"
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
	Exec      ExecFunc // nil: RunCommand
	// Done, if set, is called after every run.
	Done func(Result)
	// SkipMissing disables the check while its program (the first word of
	// Command) is missing or not executable, the way keepalived disabled a
	// missing script for the original image: such a run counts as passing,
	// Unavailable says why, and the program is used as soon as it appears
	// (a ConfigMap may be mounted late or replaced).
	SkipMissing bool

	mu          sync.Mutex
	last        *Result
	unavailable string
}

// ProgramProblem says why path cannot be run as a script, or "" when it
// can: it must be an existing regular file with an execute bit.
func ProgramProblem(path string) string {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Sprintf("%s cannot be used: %v", path, errors.Unwrap(err))
	case !st.Mode().IsRegular():
		return fmt.Sprintf("%s is not a regular file (mode %v)", path, st.Mode())
	case st.Mode().Perm()&0o111 == 0:
		return fmt.Sprintf("%s is not executable (mode %v); mount it with defaultMode 0755", path, st.Mode().Perm())
	}
	return ""
}

// Unavailable is why the check is disabled right now, or "".
func (c *Checker) Unavailable() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unavailable
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
	argv := strings.Fields(c.Command)
	if c.SkipMissing && len(argv) > 0 {
		problem := ProgramProblem(argv[0])
		c.mu.Lock()
		prev := c.unavailable
		c.unavailable = problem
		c.mu.Unlock()
		switch {
		case problem != "" && problem != prev:
			log.Error("health check disabled: its program cannot be run; the VIPs are served without it, as keepalived did for the original image, until it appears",
				"command", c.Command, "problem", problem)
		case problem == "" && prev != "":
			log.Info("health check program is available again: checking", "command", c.Command)
		}
		if problem != "" {
			r := Result{Start: time.Now()}
			if c.Done != nil {
				c.Done(r)
			}
			return r, true
		}
	}
	r := run(ctx, Command{Argv: argv, Timeout: c.Timeout, KillGrace: c.KillGrace})
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
