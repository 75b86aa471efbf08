package status

import (
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/supervisor"
)

// TestApply walks every supervisor event a run produces, in order, and
// checks the lifecycle and the effect after each.
func TestApply(t *testing.T) {
	var l Lifecycle
	steps := []struct {
		ev     supervisor.Event
		want   func(Lifecycle) bool
		effect Effect
	}{
		{supervisor.Event{Kind: supervisor.EventReloadUnchanged, Trigger: supervisor.TriggerStart},
			func(l Lifecycle) bool {
				return l.Loaded && l.LastResult == "unchanged" && l.Reloads["unchanged"] == 1 && !l.Running
			}, Effect{ConfigInstalled: true}},
		{supervisor.Event{Kind: supervisor.EventStarted, PID: 100},
			func(l Lifecycle) bool { return l.Running && !l.Ready && l.PID == 100 && l.Starts == 1 }, Effect{Started: true}},
		{supervisor.Event{Kind: supervisor.EventReady, PID: 100},
			func(l Lifecycle) bool { return l.Ready && !l.ReadyAt.IsZero() }, Effect{}},
		{supervisor.Event{Kind: supervisor.EventHUPSent, PID: 100},
			func(l Lifecycle) bool { return l.Running && l.Ready }, Effect{}},
		{supervisor.Event{Kind: supervisor.EventReloadFailed, Trigger: supervisor.TriggerSIGHUP, Err: errors.New("keepalived -t: bad")},
			func(l Lifecycle) bool {
				return l.Loaded && l.LastResult == "failed" && l.LastError == "keepalived -t: bad" && l.Reloads["failed"] == 1
			}, Effect{}},
		{supervisor.Event{Kind: supervisor.EventReloadOK, Trigger: supervisor.TriggerWatch},
			func(l Lifecycle) bool { return l.LastResult == "ok" && l.LastError == "" && l.Reloads["ok"] == 1 }, Effect{ConfigInstalled: true}},
		{supervisor.Event{Kind: supervisor.EventHung, PID: 101, Reason: "stopped"},
			func(l Lifecycle) bool { return l.Running }, Effect{}},
		{supervisor.Event{Kind: supervisor.EventExited, PID: 100, Status: supervisor.ExitStatus{Code: 1}, Reason: "fatal error"},
			func(l Lifecycle) bool {
				return !l.Running && !l.Ready && l.PID == 0 && l.ExitReason == "exit code 1: fatal error"
			}, Effect{Gone: "keepalived exited (exit code 1: fatal error)"}},
		{supervisor.Event{Kind: supervisor.EventRestartScheduled, Delay: time.Second},
			func(l Lifecycle) bool { return !l.Running }, Effect{}},
		{supervisor.Event{Kind: supervisor.EventStarted, PID: 200},
			func(l Lifecycle) bool { return l.Running && l.PID == 200 && l.Starts == 2 && l.ExitReason == "" }, Effect{Started: true}},
		{supervisor.Event{Kind: supervisor.EventExited, PID: 200, Status: supervisor.ExitStatus{Code: 0}, Reason: "stopped", Expected: true},
			func(l Lifecycle) bool { return !l.Running }, Effect{Gone: "keepalived stopped by the agent"}},
		{supervisor.Event{Kind: supervisor.EventStopped},
			func(l Lifecycle) bool { return !l.Running }, Effect{}},
	}
	for i, s := range steps {
		e := l.Apply(s.ev, t0.Add(time.Duration(i)*time.Second))
		if e != s.effect {
			t.Errorf("step %d (%s): effect %+v, want %+v", i, s.ev.Kind, e, s.effect)
		}
		if !s.want(l) {
			t.Errorf("step %d (%s): lifecycle %+v", i, s.ev.Kind, l)
		}
	}
	if want := map[string]uint64{"unchanged": 1, "failed": 1, "ok": 1}; !maps.Equal(l.Reloads, want) {
		t.Errorf("reloads %v, want %v", l.Reloads, want)
	}
}
