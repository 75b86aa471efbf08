package status

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/render"
	"github.com/ipfailover/ipfailover/scripts"
	"github.com/ipfailover/ipfailover/statusapi"
	"github.com/ipfailover/ipfailover/vrrpstate"
)

func snapshot() Snapshot {
	vip := netip.MustParsePrefix("192.0.2.200/32")
	return Snapshot{
		Name: "ipf", Version: "test", Now: t0, AgentStart: t0,
		Host:       render.Host{Interface: "eth0", Addr4: netip.MustParseAddr("192.0.2.10"), Addr6: netip.MustParseAddr("2001:db8::10")},
		Lifecycle:  up(),
		ConfigPath: "/etc/keepalived/keepalived.conf", ConfigHash: "abc",
		Dump:   map[string]vrrpstate.Stats{"ipf_VIP_1": {AdvertSent: 7, BecomeMaster: 2, ReleaseMaster: 1}},
		DumpAt: t0.Add(time.Second),
		Instances: []vrrpstate.Instance{{
			InstanceSpec: vrrpstate.InstanceSpec{Name: "ipf_VIP_1", VRID: 11, Interface: "eth0", Family: "ipv4", Priority: 150, VIPs: []netip.Prefix{vip}},
			State:        vrrpstate.StateMaster, EffectivePriority: 150,
		}},
		Addrs: map[string][]netip.Prefix{"eth0": {netip.MustParsePrefix("192.0.2.10/24"), netip.MustParsePrefix("192.0.2.200/24")}},
	}
}

func TestBuild(t *testing.T) {
	st := Build(snapshot())
	if !st.Healthy || !st.Ready || st.NodeAddress != "192.0.2.10" || !st.Keepalived.Up() || st.Config.Hash != "abc" || st.MulticastRules == nil {
		t.Fatalf("status %+v", st)
	}
	in := st.Instances[0]
	if in.State != "MASTER" || in.StateValue != int(vrrpstate.StateMaster) || !in.VIPs[0].Present ||
		in.KeepalivedCounter == nil || in.KeepalivedCounter.AdvertsSent != 7 ||
		in.KeepalivedCounter.BecomeMaster != 2 || in.KeepalivedCounter.ReleaseMaster != 1 {
		t.Errorf("instance %+v", in)
	}
}

func TestBuildKeepalivedNotUp(t *testing.T) {
	s := snapshot()
	s.Problem = "keepalived process 101 (keepalived) is stopped"
	st := Build(s)
	in := st.Instances[0]
	// Last known state kept, but not reported as a value: no MASTER claim.
	if st.Healthy || st.Keepalived.Responsive || in.State != "MASTER" || in.StateValue != 0 {
		t.Errorf("healthy %v responsive %v state %s value %d", st.Healthy, st.Keepalived.Responsive, in.State, in.StateValue)
	}

	s = snapshot()
	s.Lifecycle = Lifecycle{Starts: 3, Loaded: true, ExitReason: "killed by signal 9 (killed): hung"}
	st = Build(s)
	if st.Keepalived.Problem != "last exit: killed by signal 9 (killed): hung" || st.Keepalived.Restarts != 2 || st.Instances[0].KeepalivedCounter == nil {
		t.Errorf("keepalived %+v", st.Keepalived)
	}
}

func TestBuildDropsDumpOfAnEarlierProcess(t *testing.T) {
	s := snapshot()
	s.DumpAt = s.Lifecycle.ReadyAt.Add(-time.Second)
	if st := Build(s); st.Instances[0].KeepalivedCounter != nil {
		t.Errorf("counters of an earlier keepalived reported: %+v", st.Instances[0].KeepalivedCounter)
	}
}

func TestBuildCheckAndScripts(t *testing.T) {
	s := snapshot()
	s.Host.Addr4 = netip.Addr{}
	s.Check = &Check{Command: "/c.sh", Interval: 2, Ran: true, Timeouts: 1,
		Last: scripts.Result{Start: t0, Duration: 1500 * time.Millisecond, ExitCode: 1, Output: "down"}}
	s.Scripts = []statusapi.Script{{Variable: "OPENSHIFT_HA_NOTIFY_SCRIPT", Command: "/n.sh", Problem: "/n.sh is not executable"}}
	st := Build(s)
	c := st.Check
	if c == nil || !c.Ran || c.OK || c.IntervalSeconds != 2 || c.DurationSeconds != 1.5 || c.Output != "down" || c.Timeouts != 1 || c.Result == "" {
		t.Errorf("check %+v", c)
	}
	if st.NodeAddress != "2001:db8::10" || st.Ready || !strings.Contains(st.ReadyProblem, "OPENSHIFT_HA_NOTIFY_SCRIPT") || len(st.Scripts) != 1 {
		t.Errorf("node %s ready %v %q scripts %v", st.NodeAddress, st.Ready, st.ReadyProblem, st.Scripts)
	}
	s.Check = &Check{Command: "/c.sh", Interval: 2}
	if c := Build(s).Check; c.Ran || c.Result != "" {
		t.Errorf("check not run yet: %+v", c)
	}
}

// TestStateValuesAgree: the state model's states are reported as their
// numbers, which must be the metrics' state values.
func TestStateValuesAgree(t *testing.T) {
	for s, v := range map[vrrpstate.State]int{
		vrrpstate.StateInit: statusapi.StateInit, vrrpstate.StateBackup: statusapi.StateBackup,
		vrrpstate.StateMaster: statusapi.StateMaster, vrrpstate.StateFault: statusapi.StateFault,
	} {
		if int(s) != v || statusapi.StateName(v) != s.String() {
			t.Errorf("%s is %d, metrics say %d (%s)", s, int(s), v, statusapi.StateName(v))
		}
	}
}
