package scripts

import (
	"context"
	"github.com/ipfailover/ipfailover/vrrpstate"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxQueued bounds the notify backlog. keepalived writes a handful of lines
// per failover; this many means the script is far too slow, and dropping
// (loudly) beats growing without bound.
const maxQueued = 4096

// Notifier runs the user's notify script (OPENSHIFT_HA_NOTIFY_SCRIPT) for
// every state change, one call at a time and in the order keepalived wrote
// them, each bounded by a timeout. keepalived's own notify starts scripts
// fire-and-forget, so calls could overlap and finish out of order.
//
// The arguments are keepalived's: $1 INSTANCE or GROUP, $2 the name, $3 the
// new state (MASTER, BACKUP, FAULT, STOP or DELETED), $4 the effective
// priority. The script line is split on white space like keepalived does,
// so it may carry leading arguments of its own.
type Notifier struct {
	Script    string
	Timeout   time.Duration
	KillGrace time.Duration
	Log       *slog.Logger
	Exec      ExecFunc // nil: RunCommand
	// Done, if set, is called after every call (tests, metrics).
	Done func(vrrpstate.Line, Result)
	// SkipMissing skips calls while the script's program is missing or not
	// executable, as keepalived did for the original image (logged, and
	// reported by Unavailable), and calls it again once it appears.
	SkipMissing bool

	mu      sync.Mutex
	queue   []vrrpstate.Line
	wake    chan struct{}
	idle    chan struct{} // closed while the queue is empty and nothing runs
	running bool
	// unavailable is why the last call was skipped, or "".
	unavailable string
}

// Unavailable is why calls are being skipped, or "".
func (n *Notifier) Unavailable() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.unavailable
}

// skip checks the program before a call; it reports whether to skip.
func (n *Notifier) skip(argv0 string, l vrrpstate.Line) bool {
	if !n.SkipMissing {
		return false
	}
	problem := ProgramProblem(argv0)
	n.mu.Lock()
	prev := n.unavailable
	n.unavailable = problem
	n.mu.Unlock()
	switch {
	case problem != "" && problem != prev:
		n.log().Error("notify script cannot be run: state changes are not reported to it until it appears (keepalived skipped it for the original image too)",
			"script", n.Script, "problem", problem, "name", l.Name, "state", l.Word)
	case problem == "" && prev != "":
		n.log().Info("notify script is available again", "script", n.Script)
	}
	return problem != ""
}

func (n *Notifier) init() {
	if n.wake == nil {
		n.wake = make(chan struct{}, 1)
		n.idle = make(chan struct{})
		close(n.idle)
	}
}

// Enqueue schedules a call for l. It never blocks.
func (n *Notifier) Enqueue(l vrrpstate.Line) {
	n.mu.Lock()
	n.init()
	if len(n.queue) >= maxQueued {
		n.mu.Unlock()
		n.log().Error("notify script backlog full; dropping a state change", "limit", maxQueued, "scope", l.Scope, "name", l.Name, "state", l.Word)
		return
	}
	if len(n.queue) == 0 && !n.running {
		n.idle = make(chan struct{})
	}
	n.queue = append(n.queue, l)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *Notifier) log() *slog.Logger {
	if n.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return n.Log
}

// Run calls the script for queued changes until ctx is done. A call running
// when ctx ends is killed.
func (n *Notifier) Run(ctx context.Context) {
	n.mu.Lock()
	n.init()
	n.mu.Unlock()
	run := n.Exec
	if run == nil {
		run = RunCommand
	}
	for {
		n.mu.Lock()
		if len(n.queue) == 0 {
			n.running = false
			select {
			case <-n.idle:
			default:
				close(n.idle)
			}
			n.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-n.wake:
				continue
			}
		}
		l := n.queue[0]
		n.queue = n.queue[1:]
		n.running = true
		n.mu.Unlock()

		argv := append(strings.Fields(n.Script), string(l.Scope), l.Name, string(l.Word), strconv.Itoa(l.Priority))
		if n.skip(argv[0], l) {
			continue
		}
		r := run(ctx, Command{Argv: argv, Timeout: n.Timeout, KillGrace: n.KillGrace})
		attrs := []any{"script", n.Script, "scope", l.Scope, "name", l.Name, "state", l.Word, "priority", l.Priority,
			"result", r.Describe(), "duration", r.Duration.Round(time.Millisecond)}
		if r.Output != "" {
			attrs = append(attrs, "output", r.Output)
		}
		if r.OK() {
			n.log().Info("notify script finished", attrs...)
		} else {
			n.log().Warn("notify script failed", attrs...)
		}
		if n.Done != nil {
			n.Done(l, r)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// Drain waits until every queued call finished or ctx is done.
func (n *Notifier) Drain(ctx context.Context) {
	n.mu.Lock()
	n.init()
	idle := n.idle
	n.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
	}
}
