package supervisor

import (
	"fmt"
	"syscall"
	"time"
)

// EventKind names a lifecycle event. The values are stable and suitable as
// metric label values.
type EventKind string

// Lifecycle events reported through Options.OnEvent.
const (
	// EventStarted: keepalived was started (PID set).
	EventStarted EventKind = "started"
	// EventReady: keepalived can now safely receive SIGHUP (PID set).
	EventReady EventKind = "ready"
	// EventExited: keepalived exited (PID, Status, Reason, Expected, Uptime;
	// Err if waiting failed).
	EventExited EventKind = "exited"
	// EventRestartScheduled: keepalived will be started again after Delay.
	EventRestartScheduled EventKind = "restart_scheduled"
	// EventReloadOK: a changed config passed `keepalived -t` and was
	// installed (Trigger set). A SIGHUP follows as EventHUPSent if
	// keepalived is running.
	EventReloadOK EventKind = "reload_ok"
	// EventReloadFailed: rendering or `keepalived -t` failed (Trigger, Err
	// set); the installed config was left untouched.
	EventReloadFailed EventKind = "reload_failed"
	// EventReloadUnchanged: the rendered config equals the installed one, so
	// nothing was written and no SIGHUP sent (Trigger set).
	EventReloadUnchanged EventKind = "reload_unchanged"
	// EventHUPSent: SIGHUP was delivered to keepalived (PID set).
	EventHUPSent EventKind = "hup_sent"
	// EventStopped: Run is returning after a graceful stop and VIP release.
	EventStopped EventKind = "stopped"
	// EventHung: keepalived made no progress for HangTimeout (a process of
	// its tree stopped, or Options.Liveness failing) and is being killed
	// (PID of the offending process, Reason). EventExited, with Expected
	// false, and an immediate restart follow.
	EventHung EventKind = "hung"
)

// Reload triggers reported in Event.Trigger.
const (
	TriggerStart   = "start"   // initial config before the first start
	TriggerSIGHUP  = "sighup"  // a value on Run's hup channel
	TriggerWatch   = "watch"   // a debounced change of a watched file
	TriggerRestart = "restart" // re-render before a restart after a crash
)

// Event describes one lifecycle step of the supervised keepalived. Only the
// fields listed for each EventKind are set.
type Event struct {
	Kind     EventKind
	Trigger  string        // reload events: one of the Trigger* constants
	PID      int           // started, ready, exited, hup_sent, hung
	Status   ExitStatus    // exited
	Reason   string        // exited, hung: human-readable cause
	Expected bool          // exited: true when the supervisor stopped it
	Uptime   time.Duration // exited: how long the process ran
	Delay    time.Duration // restart_scheduled
	Err      error         // reload_failed; exited when waiting failed
}

// ExitStatus is how a process ended: an exit code, or the signal that
// killed it (Signal != 0, Code then -1).
type ExitStatus struct {
	Code   int
	Signal syscall.Signal
}

// String renders the status the way a shell user expects.
func (s ExitStatus) String() string {
	if s.Signal != 0 {
		return fmt.Sprintf("killed by signal %d (%v)", int(s.Signal), s.Signal)
	}
	return fmt.Sprintf("exit code %d", s.Code)
}

// ExitReason explains a keepalived exit status in words. The codes are the
// ones keepalived 2.2 uses for a normal (non -t) run.
func ExitReason(s ExitStatus) string {
	if s.Signal != 0 {
		switch s.Signal {
		case syscall.SIGKILL:
			return "killed by SIGKILL (out-of-memory killer, or stop timeout escalation)"
		case syscall.SIGSEGV, syscall.SIGABRT, syscall.SIGBUS:
			return fmt.Sprintf("crashed (%v)", s.Signal)
		default:
			return fmt.Sprintf("terminated by signal %v", s.Signal)
		}
	}
	switch s.Code {
	case 0:
		return "exited normally, which is unexpected while supervised (stopped from outside?)"
	case 1:
		return "fatal error (see keepalived log lines above)"
	case 2:
		return "configuration error in a child process, often after a reload"
	case 4:
		return "missing permission (keepalived needs root or CAP_NET_ADMIN, CAP_NET_RAW)"
	case 6:
		return "configuration file not found"
	case 70:
		return "internal program error"
	case 204:
		return "out of memory"
	default:
		return fmt.Sprintf("unknown exit code %d", s.Code)
	}
}
