package vrrpstate

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

type stepClock struct{ t time.Time }

func (c *stepClock) now() time.Time { c.t = c.t.Add(time.Second); return c.t }

func newTestModel(facts Facts) (*Model, *stepClock) {
	c := &stepClock{t: time.Unix(1_700_000_000, 0)}
	m := NewModel([]InstanceSpec{
		{Name: "a_VIP_1", VRID: 1, Interface: "eth0", Family: "ipv4", Priority: 150, VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.200/32")}},
		{Name: "a_VIP_2", VRID: 2, Interface: "eth0", Family: "ipv6", Priority: 100},
	}, c.now, facts)
	return m, c
}

func line(s string) Line {
	l, err := ParseLine(s)
	if err != nil {
		panic(err)
	}
	return l
}

func TestModelTransitions(t *testing.T) {
	m, _ := newTestModel(Facts{})
	steps := []struct {
		line    string
		changed bool
		state   State
		prio    int
		reason  string // substring
	}{
		{`INSTANCE "a_VIP_1" BACKUP 150`, true, StateBackup, 150, "started"},
		{`INSTANCE "a_VIP_1" BACKUP 150`, false, StateBackup, 150, "started"}, // re-sent on reload
		{`INSTANCE "a_VIP_1" MASTER 150`, true, StateMaster, 150, "no advert from a higher-priority master"},
		{`INSTANCE "a_VIP_1" MASTER_PRIORITY 90`, false, StateMaster, 90, "no advert"},
		{`INSTANCE "a_VIP_1" MASTER_RX_LOWER_PRI 90`, false, StateMaster, 90, "no advert"},
		{`INSTANCE "a_VIP_1" BACKUP 90`, true, StateBackup, 90, "higher-priority master took over"},
		{`INSTANCE "a_VIP_1" BACKUP_PRIORITY 150`, false, StateBackup, 150, "took over"},
		{`INSTANCE "a_VIP_1" FAULT 150`, true, StateFault, 150, "health check failed or the interface is down"},
		{`INSTANCE "a_VIP_1" BACKUP 150`, true, StateBackup, 150, "fault cleared"},
		{`INSTANCE "a_VIP_1" STOP 150`, true, StateInit, 150, "stopped"},
		{`INSTANCE "a_VIP_1" DELETED 150`, true, StateInit, 150, "removed"},
	}
	for i, s := range steps {
		_, changed := m.Apply(line(s.line))
		in := m.Instances()[0]
		if changed != s.changed || in.State != s.state || in.EffectivePriority != s.prio || !strings.Contains(in.Reason, s.reason) {
			t.Fatalf("step %d %s: changed %v state %v prio %d reason %q; want %v %v %d %q",
				i, s.line, changed, in.State, in.EffectivePriority, in.Reason, s.changed, s.state, s.prio, s.reason)
		}
	}
	in := m.Instances()[0]
	want := map[string]uint64{"backup": 3, "master": 1, "fault": 1, "stop": 1, "deleted": 1}
	for k, v := range want {
		if in.Transitions[k] != v {
			t.Errorf("transitions[%s] = %d, want %d (all %v)", k, in.Transitions[k], v, in.Transitions)
		}
	}
	if in.RxLowerPriority != 1 {
		t.Errorf("RxLowerPriority = %d", in.RxLowerPriority)
	}
	if m.Instances()[1].State != StateInit || m.Instances()[1].EffectivePriority != 100 {
		t.Errorf("untouched instance changed: %+v", m.Instances()[1])
	}
}

func TestModelFaultReasons(t *testing.T) {
	tests := []struct {
		name   string
		facts  Facts
		reason string
	}{
		{"interface down", Facts{InterfaceUp: func(string) bool { return false }, CheckFailing: func() bool { return true }}, "interface eth0 is down"},
		{"check failed", Facts{InterfaceUp: func(string) bool { return true }, CheckFailing: func() bool { return true }}, "health check failed"},
		{"unknown", Facts{InterfaceUp: func(string) bool { return true }, CheckFailing: func() bool { return false }}, "health check failed or the interface is down"},
	}
	for _, tt := range tests {
		m, _ := newTestModel(tt.facts)
		c, ok := m.Apply(line(`INSTANCE "a_VIP_1" FAULT 150`))
		if !ok || c.Reason != m.Instances()[0].Reason || !strings.Contains(c.Reason, tt.reason) {
			t.Errorf("%s: reason %q, want %q", tt.name, c.Reason, tt.reason)
		}
	}
}

func TestModelKeepalivedGone(t *testing.T) {
	m, _ := newTestModel(Facts{})
	m.Apply(line(`INSTANCE "a_VIP_1" MASTER 150`))
	m.KeepalivedGone("keepalived exited (exit code 1)")
	in := m.Instances()[0]
	if in.State != StateInit || in.Reason != "keepalived exited (exit code 1)" || in.Transitions["master"] != 1 {
		t.Fatalf("after gone: %+v", in)
	}
	// The restarted keepalived's first MASTER is a change again.
	if _, ok := m.Apply(line(`INSTANCE "a_VIP_1" MASTER 150`)); !ok {
		t.Fatal("MASTER after a restart was not a change")
	}
}

func TestModelUnknownInstanceAndGroup(t *testing.T) {
	m, _ := newTestModel(Facts{})
	if _, ok := m.Apply(line(`INSTANCE "custom" MASTER 120`)); !ok {
		t.Fatal("unknown instance not tracked")
	}
	all := m.Instances()
	if len(all) != 3 || all[2].Name != "custom" || all[2].Configured || all[2].State != StateMaster {
		t.Fatalf("instances %+v", all)
	}
	if _, ok := m.Apply(line(`GROUP "G" MASTER 0`)); !ok {
		t.Fatal("group change not reported")
	}
	if _, ok := m.Apply(line(`GROUP "G" MASTER 0`)); ok {
		t.Fatal("repeated group state reported")
	}
	if g := m.Groups(); len(g) != 1 || g[0].Word != WordMaster {
		t.Fatalf("groups %+v", g)
	}
}

func TestModelReconcile(t *testing.T) {
	m, c := newTestModel(Facts{})
	m.Apply(line(`INSTANCE "a_VIP_1" BACKUP 150`))
	seen := m.Instances()[0].LastEvent
	// A dump older than the FIFO line does not override it.
	if ch := m.Reconcile([]Dumped{{Name: "a_VIP_1", State: StateMaster, Word: WordMaster, LastTransition: seen.Add(-time.Millisecond), EffectivePriority: 140}}); len(ch) != 0 {
		t.Fatalf("stale dump adopted: %+v", ch)
	}
	if in := m.Instances()[0]; in.State != StateBackup || in.EffectivePriority != 140 {
		t.Fatalf("after stale dump: %+v", in)
	}
	// A newer one (the FIFO line was lost) does, and is reported.
	ch := m.Reconcile([]Dumped{{Name: "a_VIP_1", State: StateMaster, Word: WordMaster, LastTransition: c.t.Add(time.Hour), EffectivePriority: 150}})
	if len(ch) != 1 || ch[0].To != StateMaster || m.Instances()[0].State != StateMaster {
		t.Fatalf("newer dump not adopted: %+v", ch)
	}
	// Facts of an instance only known from the dump are filled in.
	m.Reconcile([]Dumped{{Name: "x", VRID: 9, Interface: "eth1", BasePriority: 77, VIPs: []netip.Prefix{netip.MustParsePrefix("2001:db8::9/128")}}})
	x := m.Instances()[2]
	if x.VRID != 9 || x.Interface != "eth1" || x.Family != "ipv6" || x.Priority != 77 || len(x.VIPs) != 1 {
		t.Fatalf("dump-only instance %+v", x)
	}
}
