package status

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/internal/procfs"
	"github.com/ipfailover/ipfailover/statusapi"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// up is a lifecycle of a keepalived that started, became ready and runs the
// installed configuration.
func up() Lifecycle {
	return Lifecycle{Running: true, Ready: true, PID: 100, Starts: 1, StartedAt: t0, ReadyAt: t0, Loaded: true, LastResult: "ok"}
}

func TestJudge(t *testing.T) {
	badScript := []statusapi.Script{{Variable: "OPENSHIFT_HA_CHECK_SCRIPT", Command: "/x.sh", Problem: "/x.sh cannot be used: no such file or directory"}}
	for _, c := range []struct {
		name       string
		facts      Facts
		healthy    bool
		healthWhy  string // substring
		ready      bool
		readyWhy   string // substring
		noReadyWhy bool
	}{
		{name: "starting, within the grace", facts: Facts{Now: t0.Add(time.Minute), AgentStart: t0},
			healthy: true, readyWhy: "not rendered and installed yet"},
		{name: "starting, grace over", facts: Facts{Now: t0.Add(StartupGrace), AgentStart: t0},
			healthWhy: "keepalived is not running", readyWhy: "not rendered"},
		{name: "render failed", facts: Facts{Now: t0, AgentStart: t0, Lifecycle: Lifecycle{LastError: "keepalived -t: bad"}},
			healthy: true, readyWhy: "not rendered and installed yet: keepalived -t: bad"},
		{name: "started, not ready", facts: Facts{Now: t0, AgentStart: t0, Lifecycle: Lifecycle{Running: true, Starts: 1, Loaded: true}},
			healthy: true, readyWhy: "not started up yet"},
		{name: "running and responsive", facts: Facts{Now: t0, AgentStart: t0, Lifecycle: up()},
			healthy: true, ready: true},
		{name: "stopped process", facts: Facts{Now: t0, AgentStart: t0, Lifecycle: up(), Problem: "keepalived process 101 (keepalived) is stopped"},
			healthWhy: "is stopped", readyWhy: "is stopped"},
		{name: "exited", facts: Facts{Now: t0, AgentStart: t0, Lifecycle: Lifecycle{Starts: 1, Loaded: true, ExitReason: "exit code 1: fatal error"}},
			healthWhy: "keepalived is not running (last exit: exit code 1: fatal error)", readyWhy: "not running"},
		{name: "exited within the grace still unhealthy", facts: Facts{Now: t0, AgentStart: t0, Lifecycle: Lifecycle{Starts: 1, Loaded: true}},
			healthWhy: "keepalived is not running", readyWhy: "not running"},
		{name: "script unavailable: served but not ready", facts: Facts{Now: t0, AgentStart: t0, Lifecycle: up(), Scripts: badScript},
			healthy: true, readyWhy: "OPENSHIFT_HA_CHECK_SCRIPT cannot be run (/x.sh cannot be used: no such file or directory); it is skipped until it appears"},
		{name: "script problem does not hide a worse one", facts: Facts{Now: t0, AgentStart: t0, Lifecycle: Lifecycle{Running: true, Starts: 1, Loaded: true}, Scripts: badScript},
			healthy: true, readyWhy: "not started up yet"},
		{name: "usable scripts", facts: Facts{Now: t0, AgentStart: t0, Lifecycle: up(), Scripts: []statusapi.Script{{Variable: "OPENSHIFT_HA_NOTIFY_SCRIPT", Command: "/n.sh"}}},
			healthy: true, ready: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := Judge(c.facts)
			if v.Healthy != c.healthy || !strings.Contains(v.HealthProblem, c.healthWhy) || (c.healthy && v.HealthProblem != "") {
				t.Errorf("healthy %v %q, want %v %q", v.Healthy, v.HealthProblem, c.healthy, c.healthWhy)
			}
			if v.Ready != c.ready || !strings.Contains(v.ReadyProblem, c.readyWhy) || (c.ready && v.ReadyProblem != "") {
				t.Errorf("ready %v %q, want %v %q", v.Ready, v.ReadyProblem, c.ready, c.readyWhy)
			}
		})
	}
}

func TestUnresponsive(t *testing.T) {
	tree := func(child byte) []procfs.Proc {
		return []procfs.Proc{
			{PID: 1, PPID: 0, Comm: "ipfailover", State: 'S'},
			{PID: 100, PPID: 1, Comm: "keepalived", State: 'S'},
			{PID: 101, PPID: 100, Comm: "keepalived", State: child},
			{PID: 102, PPID: 101, Comm: "check.sh", State: 'T'}, // a script's business
		}
	}
	stale := 16 * time.Second
	for _, c := range []struct {
		name string
		l    Liveness
		want string // substring; "" means responsive
	}{
		{"running", Liveness{PID: 100, Procs: tree('S'), Now: t0}, ""},
		{"cannot read /proc", Liveness{PID: 100, ProcErr: errors.New("EACCES"), Now: t0}, "cannot read processes: EACCES"},
		{"gone", Liveness{PID: 200, Procs: tree('S'), Now: t0}, "keepalived process 200 is gone"},
		{"child stopped", Liveness{PID: 100, Procs: tree('T'), Now: t0}, "keepalived process 101 (keepalived) is stopped (state T"},
		{"traced", Liveness{PID: 100, Procs: tree('t'), Now: t0}, "is stopped (state t"},
		{"dump answered", Liveness{PID: 100, Procs: tree('S'), Heartbeat: true, StaleAfter: stale,
			ReadyAt: t0, LastDump: t0.Add(time.Minute), Now: t0.Add(time.Minute + 5*time.Second)}, ""},
		{"ready too recently to judge", Liveness{PID: 100, Procs: tree('S'), Heartbeat: true, StaleAfter: stale,
			ReadyAt: t0, Now: t0.Add(10 * time.Second)}, ""},
		{"no dump since ready", Liveness{PID: 100, Procs: tree('S'), Heartbeat: true, StaleAfter: stale,
			ReadyAt: t0, LastDump: t0.Add(-time.Hour), Now: t0.Add(20 * time.Second)}, "has not answered a JSON state dump request for 20s (limit 16s): hung?"},
		{"no heartbeat: only stops count", Liveness{PID: 100, Procs: tree('S'), StaleAfter: stale,
			ReadyAt: t0, Now: t0.Add(time.Hour)}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Unresponsive(c.l)
			if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestJudgeUndelivered(t *testing.T) {
	now := time.Now()
	v := Judge(Facts{Now: now, AgentStart: now.Add(-time.Hour), Undelivered: "no space left on device",
		Lifecycle: Lifecycle{Running: true, Ready: true, Loaded: true}})
	if v.Healthy || v.Ready || !strings.Contains(v.HealthProblem, "no space left") || !strings.Contains(v.ReadyProblem, "held stopped") {
		t.Errorf("verdict %+v", v)
	}
}
