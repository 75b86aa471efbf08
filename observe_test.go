package main

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/metrics"
	"github.com/ipfailover/ipfailover/render"
	"github.com/ipfailover/ipfailover/supervisor"
	"github.com/ipfailover/ipfailover/vrrpstate"
)

// fakeProc writes /proc/PID/stat files for a keepalived parent and child.
func fakeProc(t *testing.T, root string, childState byte) {
	t.Helper()
	for pid, stat := range map[string]string{
		"100": "100 (keepalived) S 1 100 100",
		"101": "101 (keepalived) " + string(childState) + " 100 100 100",
	} {
		if err := os.MkdirAll(filepath.Join(root, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, pid, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func newTestObserver(t *testing.T) *observer {
	conf := filepath.Join(t.TempDir(), "keepalived.conf")
	os.WriteFile(conf, []byte("global_defs {}\n"), 0o644)
	return &observer{
		cfg:  env.Config{Name: "ipf", KeepalivedConfig: conf},
		host: render.Host{Interface: "lo", Addr4: netip.MustParseAddr("127.0.0.1")},
		log:  slog.New(slog.DiscardHandler), procRoot: t.TempDir(),
		agentStart: time.Now(), reloads: map[string]uint64{}, rulesKick: make(chan struct{}, 1),
		model: vrrpstate.NewModel([]vrrpstate.InstanceSpec{{
			Name: "ipf_VIP_1", VRID: 1, Interface: "lo", Family: "ipv4", Priority: 150,
			VIPs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		}}, time.Now, vrrpstate.Facts{}),
	}
}

func TestObserverLifecycle(t *testing.T) {
	o := newTestObserver(t)
	if s := o.Status(); !s.Healthy || s.Ready {
		t.Fatalf("before start: healthy %v ready %v (%s)", s.Healthy, s.Ready, s.ReadyProblem)
	}
	o.OnEvent(supervisor.Event{Kind: supervisor.EventReloadUnchanged, Trigger: supervisor.TriggerStart})
	o.OnEvent(supervisor.Event{Kind: supervisor.EventStarted, PID: 100})
	o.OnEvent(supervisor.Event{Kind: supervisor.EventReady, PID: 100})
	fakeProc(t, o.procRoot, 'S')
	o.onLine(vrrpstate.Line{Scope: vrrpstate.ScopeInstance, Name: "ipf_VIP_1", Word: vrrpstate.WordMaster, Priority: 150})

	s := o.Status()
	if !s.Healthy || !s.Ready || !s.Keepalived.Up() || s.Config.Hash == "" || s.Config.Reloads["unchanged"] != 1 {
		t.Fatalf("running: %+v", s)
	}
	in := s.Instances[0]
	if in.State != "MASTER" || in.StateValue != 2 || len(in.VIPs) != 1 || !in.VIPs[0].Present || in.Transitions["master"] != 1 {
		t.Fatalf("instance %+v", in)
	}

	// SIGSTOP of the VRRP child: unhealthy at once, and no MASTER reported.
	fakeProc(t, o.procRoot, 'T')
	s = o.Status()
	if s.Healthy || s.Ready || !strings.Contains(s.HealthProblem, "stopped") || s.Instances[0].StateValue != 0 || s.Instances[0].State != "MASTER" {
		t.Fatalf("stopped child: healthy %v %q state %d %s", s.Healthy, s.HealthProblem, s.Instances[0].StateValue, s.Instances[0].State)
	}

	// Exit: unhealthy, state INIT, restarts counted on the next start.
	o.OnEvent(supervisor.Event{Kind: supervisor.EventExited, PID: 100, Status: supervisor.ExitStatus{Code: 1}, Reason: "fatal error"})
	s = o.Status()
	if s.Healthy || s.Instances[0].State != "INIT" || !strings.Contains(s.HealthProblem, "not running") || !strings.Contains(s.Instances[0].Reason, "fatal error") {
		t.Fatalf("exited: %+v", s)
	}
	o.OnEvent(supervisor.Event{Kind: supervisor.EventStarted, PID: 100})
	o.OnEvent(supervisor.Event{Kind: supervisor.EventReloadFailed, Err: errors.New("keepalived -t: bad")})
	if s = o.Status(); s.Keepalived.Restarts != 1 || s.Config.Reloads["failed"] != 1 || s.Config.LastError == "" {
		t.Fatalf("restarted: %+v", s)
	}
}

func TestStatusURL(t *testing.T) {
	for in, want := range map[string]string{
		":63000":         "http://127.0.0.1:63000/status",
		"0.0.0.0:9":      "http://127.0.0.1:9/status",
		"[::]:9":         "http://[::1]:9/status",
		"192.0.2.1:9465": "http://192.0.2.1:9465/status",
	} {
		if got, err := statusURL(in); err != nil || got != want {
			t.Errorf("statusURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := statusURL("nope"); err == nil {
		t.Error("statusURL(nope) succeeded")
	}
}

func TestPrintStatus(t *testing.T) {
	now := time.Now()
	st := metrics.Status{
		Name: "ipf", Interface: "eth0", NodeAddress: "192.0.2.11", Version: "dev", Healthy: true, Ready: true,
		Keepalived:     metrics.Keepalived{Running: true, Responsive: true, PID: 7, StartedAt: now.Add(-time.Minute)},
		Config:         metrics.Config{Path: "/etc/keepalived/keepalived.conf", Hash: "abc", LastResult: "ok", LastReload: now},
		MulticastRules: []metrics.Rule{{Chain: "INPUT", Family: "ipv4", Present: true}},
		Instances: []metrics.Instance{{Name: "ipf_VIP_1", VRID: 1, Family: "ipv4", State: "MASTER", StateValue: 2, Priority: 150, BasePriority: 150,
			LastTransition: now.Add(-3 * time.Second), Reason: "peer gone", VIPs: []metrics.VIP{{Address: "192.0.2.200", Present: true}}}},
	}
	var b bytes.Buffer
	printStatus(&b, st, now)
	for _, want := range []string{"ipf_VIP_1", "MASTER", "192.0.2.200*", "peer gone", "healthy; ready", "INPUT: present", "check:      none"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}
