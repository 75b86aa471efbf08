// Package status owns the agent's status document: how the facts of a
// running agent (keepalived's lifecycle from the supervisor's events, its
// responsiveness, the health check, the VRRP state model, the multicast
// rules, the kernel's addresses) become the statusapi.Status that /status,
// /healthz, /readyz and /metrics are served from, and how `ipfailover
// status` reads and prints that document.
//
// Everything here but the client (Fetch) is pure: the judgement of health
// and readiness (Judge), of keepalived's responsiveness (Unresponsive), the
// effect of each supervisor event (Lifecycle.Apply) and the mapping
// (Build) are functions of their inputs, gathered by package monitor.
package status

import (
	"time"

	"github.com/ipfailover/ipfailover/supervisor"
)

// Lifecycle is keepalived's lifecycle and its configuration's state, as the
// supervisor's events report them.
type Lifecycle struct {
	Running bool // a keepalived process runs
	Ready   bool // it can take signals (started up)
	PID     int
	// StartedAt and ReadyAt are when the running keepalived started and
	// became ready (zero before).
	StartedAt, ReadyAt time.Time
	Starts             uint64 // keepalived starts so far
	// ExitReason is the last exit's status and reason while keepalived is
	// not running after an exit, "" otherwise.
	ExitReason string

	Loaded     bool              // keepalived.conf was rendered and installed at least once
	Reloads    map[string]uint64 // config updates by result: ok, unchanged, failed
	LastReload time.Time
	LastResult string // ok, unchanged or failed
	LastError  string // the last failed update's error, "" after a success
}

// Effect is what an event means beyond the lifecycle itself, for the
// monitor to act on.
type Effect struct {
	// Gone says why keepalived no longer runs, for the state model, when
	// the event says it exited; "" otherwise.
	Gone string
	// ConfigInstalled: the installed keepalived.conf is the rendered one
	// (written or confirmed unchanged); its hash is current again.
	ConfigInstalled bool
	// Started: a keepalived was started; its multicast rules are worth
	// reading back at once.
	Started bool
}

// Apply records ev, which happened at now, and says what else it means.
func (l *Lifecycle) Apply(ev supervisor.Event, now time.Time) Effect {
	var e Effect
	switch ev.Kind {
	case supervisor.EventStarted:
		l.Running, l.Ready, l.PID, l.StartedAt = true, false, ev.PID, now
		l.Starts++
		l.ExitReason = ""
		e.Started = true
	case supervisor.EventReady:
		l.Ready, l.ReadyAt = true, now
	case supervisor.EventExited:
		l.Running, l.Ready, l.PID = false, false, 0
		l.ExitReason = ev.Status.String() + ": " + ev.Reason
		e.Gone = "keepalived exited (" + l.ExitReason + ")"
		if ev.Expected {
			e.Gone = "keepalived stopped by the agent"
		}
	case supervisor.EventReloadOK, supervisor.EventReloadUnchanged:
		res := "ok"
		if ev.Kind == supervisor.EventReloadUnchanged {
			res = "unchanged"
		}
		l.count(res)
		l.LastReload, l.LastResult, l.LastError, l.Loaded = now, res, "", true
		e.ConfigInstalled = true
	case supervisor.EventReloadFailed:
		l.count("failed")
		l.LastReload, l.LastResult = now, "failed"
		if ev.Err != nil {
			l.LastError = ev.Err.Error()
		}
	}
	return e
}

func (l *Lifecycle) count(result string) {
	if l.Reloads == nil {
		l.Reloads = map[string]uint64{}
	}
	l.Reloads[result]++
}
