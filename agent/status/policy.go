package status

import (
	"fmt"
	"time"

	"github.com/ipfailover/ipfailover/internal/procfs"
	"github.com/ipfailover/ipfailover/statusapi"
)

// StartupGrace is how long /healthz passes before keepalived first started
// (interface wait, pre-flight checks): a node whose network comes up slowly
// is not restarted for it.
const StartupGrace = 2 * time.Minute

// Facts are what health and readiness are judged on.
type Facts struct {
	Now, AgentStart time.Time
	Lifecycle       Lifecycle
	// Problem is why a running keepalived is not responsive (see
	// Unresponsive), "" when it is.
	Problem string
	// Scripts are the user's scripts with why they cannot be run.
	Scripts []statusapi.Script
	// Undelivered is why health check results cannot be written for
	// keepalived ("" when they can); the agent then holds keepalived
	// stopped (fail closed).
	Undelivered string
	// Blocked says why instances are held back from keepalived by the
	// rollout guard (another configuration masters their VRID), one reason
	// each; empty when none is.
	Blocked []string
}

// Verdict is /healthz and /readyz: the kubelet restarts an unhealthy agent
// and a rollout waits for a ready one.
type Verdict struct {
	Healthy       bool
	HealthProblem string
	Ready         bool
	ReadyProblem  string
}

// Judge decides health and readiness. Healthy means keepalived runs and
// makes progress (or the agent is still starting); ready means it also
// runs the rendered configuration and every user script can be run.
func Judge(f Facts) Verdict {
	l := f.Lifecycle
	responsive := l.Running && f.Problem == ""
	var v Verdict
	switch {
	case !l.Running && l.Starts == 0 && f.Now.Sub(f.AgentStart) < StartupGrace:
		v.Healthy = true // still starting
	case !l.Running && l.Starts == 0 && len(f.Blocked) > 0:
		// Every instance is held back by the rollout guard: the agent
		// does what it should, and a restart would not change that.
		v.Healthy = true
	case !l.Running:
		v.HealthProblem = "keepalived is not running"
		if l.ExitReason != "" {
			v.HealthProblem += " (last exit: " + l.ExitReason + ")"
		}
	case !responsive:
		v.HealthProblem = f.Problem
	default:
		v.Healthy = true
	}
	switch {
	case !l.Loaded:
		v.ReadyProblem = "keepalived.conf not rendered and installed yet"
		if l.LastError != "" {
			v.ReadyProblem += ": " + l.LastError
		}
	case !l.Running || !l.Ready:
		v.ReadyProblem = "keepalived is not running (or not started up yet)"
	case !responsive:
		v.ReadyProblem = f.Problem
	default:
		v.Ready = true
	}
	if f.Undelivered != "" {
		p := "health check results cannot be delivered to keepalived (" + f.Undelivered + "); keepalived is held stopped and the VIPs released until they can"
		v.Healthy, v.HealthProblem = false, p
		v.Ready, v.ReadyProblem = false, p
	}
	if len(f.Blocked) > 0 {
		held := "held back by the rollout guard (OPENSHIFT_HA_CONFLICT_POLICY=refuse): " + joinCapped(f.Blocked, maxBlockedReasons)
		if v.Ready || (!l.Loaded && l.Starts == 0) {
			// Before keepalived's first start the guard is the reason.
			v.ReadyProblem = held
		} else {
			v.ReadyProblem += "; " + held
		}
		v.Ready = false
	}
	for _, sc := range f.Scripts {
		if sc.Problem != "" && v.Ready {
			// The VIPs are served (as the original did), but a rollout
			// should pause on a configuration that cannot work as meant.
			v.Ready = false
			v.ReadyProblem = sc.Variable + " cannot be run (" + sc.Problem + "); it is skipped until it appears"
		}
	}
	return v
}

// Liveness is what keepalived's responsiveness is judged on.
type Liveness struct {
	PID int // the running keepalived parent
	// Procs are the node's processes (procfs.List), ProcErr why they could
	// not be read.
	Procs   []procfs.Proc
	ProcErr error
	// Heartbeat says whether JSON state dumps are requested at all; a
	// keepalived without JSON support is only checked for being stopped.
	Heartbeat bool
	// ReadyAt is when keepalived became ready (zero: not yet), LastDump
	// when it last answered a dump request.
	ReadyAt, LastDump, Now time.Time
	// StaleAfter is how old the last answer may be.
	StaleAfter time.Duration
}

// Unresponsive says why a running keepalived does not count as responsive,
// or "" when it does: a process of its tree is gone or stopped (SIGSTOP,
// traced), or it stopped answering the JSON state dump requests.
func Unresponsive(l Liveness) string {
	if l.ProcErr != nil {
		return fmt.Sprintf("cannot read processes: %v", l.ProcErr)
	}
	procs := procfs.Tree(l.Procs, l.PID)
	if procs == nil {
		return fmt.Sprintf("keepalived process %d is gone", l.PID)
	}
	if p, ok := procfs.StoppedKeepalived(procs); ok {
		return fmt.Sprintf("keepalived process %d (%s) is stopped (state %c: SIGSTOP or traced)", p.PID, p.Comm, p.State)
	}
	if !l.Heartbeat || l.ReadyAt.IsZero() || l.Now.Sub(l.ReadyAt) < l.StaleAfter {
		return ""
	}
	last := l.LastDump
	if last.Before(l.ReadyAt) {
		last = l.ReadyAt
	}
	if age := l.Now.Sub(last); age > l.StaleAfter {
		return fmt.Sprintf("keepalived has not answered a JSON state dump request for %v (limit %v): hung?", age.Round(time.Second), l.StaleAfter)
	}
	return ""
}
