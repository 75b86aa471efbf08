package monitor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/agent/health"
	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/iptables"
	"github.com/ipfailover/ipfailover/render"
	"github.com/ipfailover/ipfailover/scripts"
	"github.com/ipfailover/ipfailover/supervisor"
	"github.com/ipfailover/ipfailover/vrrpstate"
)

// rig is a monitor over a fake /proc and kernel, with keepalived.conf and
// the FIFO in temporary directories.
type rig struct {
	m        *Monitor
	procRoot string
	fifo     string
	table    *ruleTable
}

// newRig starts a monitor for the environment's configuration, changed
// by edit if set.
func newRig(t *testing.T, o Options, edit func(*env.Config), environ ...string) *rig {
	t.Helper()
	environ = append(environ,
		"OPENSHIFT_HA_CONFIG_NAME=ipf",
		"OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100",
		"OPENSHIFT_HA_MONITOR_PORT=0",
		"OPENSHIFT_HA_METRICS_ADDRESS=",
		"KEEPALIVED_CONFIG="+filepath.Join(t.TempDir(), "keepalived.conf"),
	)
	cfg, _, err := env.Load(environ)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&cfg)
	}
	if err := os.WriteFile(cfg.KeepalivedConfig, []byte("global_defs {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	host := render.Host{Interface: "lo", Addr4: netip.MustParseAddr("192.0.2.10")}
	plan, err := render.NewPlan(cfg, host, render.Options{Version: "test",
		NotifyFIFO: filepath.Join(dir, "vrrp.fifo"), CheckFile: filepath.Join(dir, "check.status")})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{procRoot: t.TempDir(), fifo: plan.Options.NotifyFIFO, table: &ruleTable{}}
	o.Plan, o.Version, o.RunDir, o.ProcRoot = plan, "test", dir, r.procRoot
	o.Log = slog.New(slog.DiscardHandler)
	o.Addrs = func() (map[string][]netip.Prefix, error) {
		return map[string][]netip.Prefix{"lo": {netip.MustParsePrefix("192.0.2.100/32")}}, nil
	}
	for _, rule := range o.Rules {
		o.Tables = append(o.Tables, r.table)
		r.table.add(rule)
	}
	if r.m, err = Start(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.m.Close)
	return r
}

// proc makes keepalived (pid 100) and its VRRP child (101, in state child)
// the fake /proc's processes.
func (r *rig) proc(t *testing.T, child byte) {
	t.Helper()
	for pid, stat := range map[int]string{
		100: "100 (keepalived) S 1 100 100",
		101: "101 (keepalived) " + string(child) + " 100 100 100",
	} {
		dir := filepath.Join(r.procRoot, strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// write writes one line to the FIFO as keepalived does.
func (r *rig) write(t *testing.T, line string) {
	t.Helper()
	f, err := os.OpenFile(r.fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.WriteString(f, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEvents walks a keepalived's life through the supervisor's events and
// the FIFO and checks the status after each step.
func TestEvents(t *testing.T) {
	r := newRig(t, Options{}, nil)
	m := r.m
	if s := m.Status(); !s.Healthy || s.Ready || s.Instances[0].State != "INIT" {
		t.Fatalf("before start: %+v", s)
	}
	if ok, why := m.Liveness(); !ok || why != "" {
		t.Errorf("liveness without keepalived: %v %q", ok, why)
	}
	m.OnEvent(supervisor.Event{Kind: supervisor.EventReloadUnchanged, Trigger: supervisor.TriggerStart})
	m.OnEvent(supervisor.Event{Kind: supervisor.EventStarted, PID: 100})
	m.OnEvent(supervisor.Event{Kind: supervisor.EventReady, PID: 100})
	r.proc(t, 'S')
	r.write(t, `INSTANCE "ipf_VIP_1" MASTER 150`)
	eventually(t, "MASTER from the FIFO", func() bool { return m.Status().Instances[0].State == "MASTER" })

	s := m.Status()
	if !s.Healthy || !s.Ready || !s.Keepalived.Up() || s.Config.Hash == "" || s.Config.Reloads["unchanged"] != 1 {
		t.Fatalf("running: %+v", s)
	}
	in := s.Instances[0]
	if in.StateValue != int(vrrpstate.StateMaster) || len(in.VIPs) != 1 || !in.VIPs[0].Present || in.Transitions["master"] != 1 || in.Priority != 150 {
		t.Fatalf("instance %+v", in)
	}
	if ok, _ := m.Liveness(); !ok {
		t.Error("liveness of a running keepalived failed")
	}

	// SIGSTOP of the VRRP child: unhealthy at once, no MASTER reported,
	// and the supervisor's liveness check says why.
	r.proc(t, 'T')
	s = m.Status()
	if s.Healthy || s.Ready || !strings.Contains(s.HealthProblem, "stopped") || s.Instances[0].StateValue != 0 || s.Instances[0].State != "MASTER" {
		t.Fatalf("stopped child: healthy %v %q state %d %s", s.Healthy, s.HealthProblem, s.Instances[0].StateValue, s.Instances[0].State)
	}
	if ok, why := m.Liveness(); ok || !strings.Contains(why, "process 101") {
		t.Errorf("liveness of a stopped keepalived: %v %q", ok, why)
	}

	// Exit: unhealthy, state INIT with the reason, restarts counted on
	// the next start.
	m.OnEvent(supervisor.Event{Kind: supervisor.EventExited, PID: 100, Status: supervisor.ExitStatus{Code: 1}, Reason: "fatal error"})
	s = m.Status()
	if s.Healthy || s.Instances[0].State != "INIT" || !strings.Contains(s.HealthProblem, "not running") || !strings.Contains(s.Instances[0].Reason, "fatal error") {
		t.Fatalf("exited: %+v", s)
	}
	m.OnEvent(supervisor.Event{Kind: supervisor.EventStarted, PID: 100})
	m.OnEvent(supervisor.Event{Kind: supervisor.EventReloadFailed, Err: errors.New("keepalived -t: bad")})
	if s = m.Status(); s.Keepalived.Restarts != 1 || s.Config.Reloads["failed"] != 1 || s.Config.LastError == "" {
		t.Fatalf("restarted: %+v", s)
	}
	r.write(t, `INSTANCE "ipf_VIP_1" BACKUP 150`)
	eventually(t, "BACKUP from the FIFO", func() bool { return m.Status().Instances[0].State == "BACKUP" })
	m.OnEvent(supervisor.Event{Kind: supervisor.EventExited, PID: 100, Expected: true})
	if s = m.Status(); !strings.Contains(s.Instances[0].Reason, "stopped by the agent") {
		t.Errorf("graceful stop: reason %q", s.Instances[0].Reason)
	}
}

// TestNotifyScriptRunsOnStateChanges: the agent, not keepalived, runs the
// notify script, with keepalived's arguments, and drains it on Close.
func TestNotifyScriptRunsOnStateChanges(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "calls")
	script := filepath.Join(dir, "notify.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, Options{}, nil, "OPENSHIFT_HA_NOTIFY_SCRIPT="+script+" --from-agent")
	r.write(t, `INSTANCE "ipf_VIP_1" BACKUP 150`)
	eventually(t, "the notify call", func() bool {
		b, _ := os.ReadFile(out)
		return string(b) == "--from-agent INSTANCE ipf_VIP_1 BACKUP 150\n"
	})
	if s := r.m.Status(); len(s.Scripts) != 1 || s.Scripts[0].Variable != "OPENSHIFT_HA_NOTIFY_SCRIPT" || s.Scripts[0].Problem != "" {
		t.Errorf("scripts %+v", s.Scripts)
	}
	r.m.Close()
	if _, err := os.Lstat(r.fifo); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("FIFO left after Close: %v", err)
	}
}

// TestServerAndCheck: the status document behind the HTTP server carries
// the health check's results and the multicast rules read back.
func TestServerAndCheck(t *testing.T) {
	rule := iptables.Rule{Chain: "INPUT", Tag: iptables.TagFor("ipf")}
	var m *Monitor
	check := health.New(health.Options{
		Check:      render.Check{Name: "chk", Command: "/bin/check", Interval: 3600, Timeout: 1},
		StatusFile: filepath.Join(t.TempDir(), "check.status"),
		Exec: func(context.Context, scripts.Command) scripts.Result {
			return scripts.Result{ExitCode: 1, Output: "down", Duration: time.Millisecond}
		},
		OnResult: func(r scripts.Result) { m.ObserveCheck(r) },
	})
	r := newRig(t, Options{Check: check, Rules: []iptables.Rule{rule}}, func(c *env.Config) { c.MetricsAddress = "127.0.0.1:0" })
	m = r.m
	check.Start(t.Context())
	defer check.Stop()
	m.OnEvent(supervisor.Event{Kind: supervisor.EventReloadOK, Trigger: supervisor.TriggerStart})
	m.OnEvent(supervisor.Event{Kind: supervisor.EventStarted, PID: 100}) // reads the rules back at once
	r.proc(t, 'S')

	eventually(t, "the rule read back", func() bool {
		rs := m.Status().MulticastRules
		return len(rs) == 1 && rs[0].Present && rs[0].Family == "ipv4"
	})
	st := m.Status()
	if c := st.Check; c == nil || !c.Ran || c.OK || c.Output != "down" || c.Command != "/bin/check" {
		t.Errorf("check %+v", c)
	}
	m.RuleRestored(rule)

	base := "http://" + m.server.Addr()
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/readyz":  "keepalived is not running (or not started up yet)",
		"/status":  `"command": "/bin/check"`,
		"/metrics": `ipfailover_multicast_rule_restored_total{chain="INPUT",family="ipv4"} 1`,
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), want) {
			t.Errorf("%s lacks %q:\n%s", path, want, body)
		}
	}
}

// TestSpecs: the state model's instances are the plan's, typed.
func TestSpecs(t *testing.T) {
	cfg, _, err := env.Load([]string{"OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100,2001:db8::5/64"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := render.NewPlan(cfg, render.Host{Interface: "eth0", Addr4: netip.MustParseAddr("192.0.2.10"), Addr6: netip.MustParseAddr("2001:db8::10")},
		render.Options{CheckFile: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	specs := Specs(p)
	if len(specs) != 2 || specs[1].Family != "ipv6" || specs[1].Interface != "eth0" || specs[1].VIPs[0] != netip.MustParsePrefix("2001:db8::5/64") ||
		specs[0].Priority != p.Instances[0].Priority || specs[1].VRID != p.Instances[1].VRID {
		t.Errorf("specs %+v", specs)
	}
}

func TestStartNeedsAFIFO(t *testing.T) {
	if _, err := Start(t.Context(), Options{}); err == nil {
		t.Error("Start without a FIFO succeeded")
	}
}

// ruleTable is a filter table holding some rules (iptables.Table).
type ruleTable struct {
	mu    sync.Mutex
	lines []string
}

func (f *ruleTable) add(r iptables.Rule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lines = append(f.lines, "-A "+r.Chain+` -d 224.0.0.18/32 -m comment --comment "`+r.Tag+`" -j ACCEPT`)
}

func (f *ruleTable) ChainExists(string, string) (bool, error) { return true, nil }
func (f *ruleTable) List(string, string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{"-P INPUT ACCEPT"}, f.lines...), nil
}
func (f *ruleTable) Insert(string, string, int, ...string) error { return errors.New("read only") }
func (f *ruleTable) Delete(string, string, ...string) error      { return errors.New("read only") }

// noSuchPID is above any pid_max: should the heartbeat fire during a
// test, its signal reaches no process.
const noSuchPID = 1 << 30

// TestDumpAndHeartbeat: a JSON dump fills the counters and corrects a state
// the FIFO missed; keepalived is only signalled a second after it is ready.
func TestDumpAndHeartbeat(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	r := newRig(t, Options{Now: clock, JSONSignal: 36}, nil)
	m := r.m
	m.OnEvent(supervisor.Event{Kind: supervisor.EventStarted, PID: noSuchPID})
	if pid := m.heartbeatPID(); pid != 0 {
		t.Errorf("signalled before ready: %d", pid)
	}
	m.OnEvent(supervisor.Event{Kind: supervisor.EventReady, PID: noSuchPID})
	if pid := m.heartbeatPID(); pid != 0 {
		t.Errorf("signalled right after ready: %d", pid)
	}
	mu.Lock()
	now = now.Add(heartbeatDelay)
	mu.Unlock()
	if pid := m.heartbeatPID(); pid != noSuchPID {
		t.Errorf("heartbeat pid %d, want %d", pid, noSuchPID)
	}

	m.onDump([]vrrpstate.DumpEntry{{
		Dumped: vrrpstate.Dumped{Name: "ipf_VIP_1", State: vrrpstate.StateBackup, Word: vrrpstate.WordBackup,
			EffectivePriority: 150, BasePriority: 150, LastTransition: clock()},
		Stats: vrrpstate.Stats{AdvertRcvd: 9},
	}}, clock())
	in := m.Status().Instances[0]
	if in.State != "BACKUP" || in.KeepalivedCounter == nil || in.KeepalivedCounter.AdvertsReceived != 9 {
		t.Errorf("after the dump: %+v", in)
	}
}

// TestFileHashMasksPassword: the published config hash must not let anyone
// test password guesses, and must still change with the rest of the file.
func TestFileHashMasksPassword(t *testing.T) {
	dir := t.TempDir()
	write := func(name, pass, vip string) string {
		p := filepath.Join(dir, name)
		body := "vrrp_instance a {\n    authentication {\n        auth_type PASS\n        auth_pass " + pass + "\n    }\n    virtual_ipaddress {\n        " + vip + "\n    }\n}\n"
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b, c := write("a", "secret1", "192.0.2.1"), write("b", "other22", "192.0.2.1"), write("c", "secret1", "192.0.2.2")
	if fileHash(a) != fileHash(b) {
		t.Error("the hash depends on the password")
	}
	if fileHash(a) == fileHash(c) {
		t.Error("the hash does not depend on the VIPs")
	}
}
