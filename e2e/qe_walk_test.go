package e2e

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/e2e/lab"
	"github.com/ipfailover/ipfailover/env"
)

// qeDeployment is the environment of the QE suite's Deployment
// (openshift/images ipfailover/keepalived/tests/e2e/testdata/router/
// ipfailover.yaml) in the lab: its VIP parameter default 192.168.123.123 is
// an address outside the nodes' subnet, here 203.0.113.123; MONITORPORT 22
// (sshd on a worker) is the lab's name service port.
func qeDeployment() map[string]string {
	return map[string]string{
		"OPENSHIFT_HA_CONFIG_NAME":       "ipfailover",
		"OPENSHIFT_HA_VIRTUAL_IPS":       "203.0.113.123",
		"OPENSHIFT_HA_VIP_GROUPS":        "10",
		"OPENSHIFT_HA_NETWORK_INTERFACE": lab.Interface,
		"OPENSHIFT_HA_MONITOR_PORT":      strconv.Itoa(lab.DefaultServicePort),
		"OPENSHIFT_HA_VRRP_ID_OFFSET":    "9",
		"OPENSHIFT_HA_REPLICA_COUNT":     "2",
		"OPENSHIFT_HA_NFTABLES_RULE":     "INPUT",
		"OPENSHIFT_HA_PREEMPTION":        "nopreempt",
		"OPENSHIFT_HA_CHECK_INTERVAL":    "5",
	}
}

// qe is one walk through the QE suite on a two-node lab: nodes are the pods
// of the Deployment, a rollout (`oc set env`, strategy Recreate) stops both
// and starts both with the new environment.
type qe struct {
	t    *testing.T
	l    *lab.Lab
	bin  string
	vars map[string]string
}

// rollout applies changes to the environment and rolls both pods.
func (q *qe) rollout(changes map[string]string) {
	q.t.Helper()
	maps.Copy(q.vars, changes)
	compatStopAll(q.t, q.l.Nodes...)
	for _, n := range q.l.Nodes {
		if err := n.Start(lab.Spec{Argv: []string{q.bin, "run"}, Env: envList(q.vars)}); err != nil {
			q.t.Fatal(err)
		}
	}
	q.running()
}

// running asserts that both agents are up with a keepalived daemon (the
// Deployment's liveness probe is `pgrep keepalived`; it has no readiness
// probe).
func (q *qe) running() {
	q.t.Helper()
	for _, n := range q.l.Nodes {
		err := lab.Poll(q.t.Context(), 20*time.Second, 50*time.Millisecond, func() error {
			if !n.Running() {
				return fmt.Errorf("the agent exited")
			}
			_, err := n.Keepalived()
			return err
		})
		if err != nil {
			q.t.Fatalf("%s: want the agent running with keepalived: %v\n%s", n.Name, err, n.LogTail(30))
		}
	}
}

// masterBackup is QE's ensureIpfailoverMasterBackup: the last log line
// containing "Entering" says "(ipfailover_VIP_1) Entering MASTER STATE" on
// one pod and "(ipfailover_VIP_1) Entering BACKUP STATE" on the other.
func (q *qe) masterBackup() (master, backup *lab.Node) {
	q.t.Helper()
	const m, b = "(ipfailover_VIP_1) Entering MASTER STATE", "(ipfailover_VIP_1) Entering BACKUP STATE"
	last := func(n *lab.Node) string {
		lines := compatLinesWith(n, "Entering")
		if len(lines) == 0 {
			return ""
		}
		return lines[len(lines)-1]
	}
	n1, n2 := q.l.Nodes[0], q.l.Nodes[1]
	var l1, l2 string
	err := lab.Poll(q.t.Context(), 30*time.Second, 100*time.Millisecond, func() error {
		l1, l2 = last(n1), last(n2)
		switch {
		case strings.Contains(l1, m) && strings.Contains(l2, b):
			master, backup = n1, n2
		case strings.Contains(l1, b) && strings.Contains(l2, m):
			master, backup = n2, n1
		default:
			return fmt.Errorf("not converged")
		}
		return nil
	})
	if err != nil {
		q.t.Fatalf("want the last \"Entering\" log lines to say %q on one node and %q on the other; %s: %q, %s: %q",
			m, b, n1.Name, l1, n2.Name, l2)
	}
	return master, backup
}

// env asserts that `/usr/bin/env` in every pod shows the variables.
func (q *qe) env(kvs ...string) {
	q.t.Helper()
	for _, n := range q.l.Nodes {
		environ, err := compatEnviron(n)
		if err != nil {
			q.t.Fatal(err)
		}
		lines := strings.Split(environ, "\n")
		for _, kv := range kvs {
			if !slices.Contains(lines, kv) {
				q.t.Errorf("%s: /usr/bin/env does not show %s", n.Name, kv)
			}
		}
	}
}

// vips asserts that every VIP is on exactly one node and stays so for a
// master-down interval, and returns the placement.
func (q *qe) vips(vips []netip.Addr) lab.Holding {
	q.t.Helper()
	return waitStable(q.t, q.l, vips, 30*time.Second, masterDown+time.Second, exactlyOne)
}

// conf returns the node's keepalived.conf (`cat` in the pod).
func (q *qe) conf(n *lab.Node) string {
	q.t.Helper()
	b, err := n.ReadFile("/etc/keepalived/keepalived.conf")
	if err != nil {
		q.t.Fatal(err)
	}
	return string(b)
}

// sameElections asserts that the agents' VRIDs and VIPs are the original
// image's for the current environment (not a QE assertion: the reason the
// QE steps would pass on old and new pods alike).
func (q *qe) sameElections() {
	q.t.Helper()
	offset, err := strconv.Atoi(q.vars["OPENSHIFT_HA_VRRP_ID_OFFSET"])
	if err != nil {
		q.t.Fatal(err)
	}
	want := map[int][]netip.Addr{}
	for _, in := range env.OriginalInstances(q.vars, offset) {
		want[in.VRID] = in.Served
	}
	for _, n := range q.l.Nodes {
		ins, err := lab.ParseInstances([]byte(q.conf(n)))
		if err != nil {
			q.t.Fatal(err)
		}
		got := map[int][]netip.Addr{}
		for _, in := range ins {
			got[in.VRID] = append(got[in.VRID], in.VIPs...)
		}
		if !maps.EqualFunc(got, want, sameAddrSet) {
			q.t.Errorf("%s: VRID→VIPs %v, the original image's %v", n.Name, got, want)
		}
	}
}

// TestQESuiteWalk walks through the steps of OpenShift's QE suite for the
// keepalived-ipfailover image (openshift/images ipfailover/keepalived/tests/
// e2e/ipfailover.go) with two agents, asserting after each step what QE
// asserts there: the agents keep running with keepalived, the last
// "Entering" log line names ipfailover_VIP_1 MASTER on one pod and BACKUP on
// the other (keepalived's own lines, verbatim inside the agent's log line),
// /usr/bin/env shows the variables, keepalived.conf has no
// "virtual_router_id 9", and the VIP is on exactly one node. QE's
// successive `oc set env` calls of one test are applied as one rollout.
// Where QE checks no MASTER/BACKUP lines (41029, 49214: hundreds of VIPs in
// many instances) neither does this test; it checks the placement instead.
func TestQESuiteWalk(t *testing.T) {
	l := newLab(t, 2)
	q := &qe{t: t, l: l, bin: agentBinary(t), vars: qeDeployment()}
	peers := l.Nodes[0].IPv4.String() + "," + l.Nodes[1].IPv4.String()
	t0 := time.Now()
	stepDone := func(name string) {
		t.Helper()
		q.running() // still up after the step's checks
		t.Logf("%-28s done at %v", name, time.Since(t0).Round(time.Millisecond))
	}

	// 41025: deploy; one pod MASTER, the other BACKUP.
	q.rollout(nil)
	q.masterBackup()
	q.vips(addrs("203.0.113.123"))
	stepDone("deploy")

	// unicastIPFailover, first call: unicast without peers runs multicast
	// (with a warning), as the original did.
	q.rollout(map[string]string{"OPENSHIFT_HA_USE_UNICAST": "true"})
	q.masterBackup()
	q.env("OPENSHIFT_HA_USE_UNICAST=true")
	for _, n := range l.Nodes {
		if !compatLogHas(n, "OPENSHIFT_HA_UNICAST_PEERS is empty: running multicast") {
			t.Errorf("%s: want the warning that unicast without peers runs multicast", n.Name)
		}
		if c := q.conf(n); strings.Contains(c, "unicast_peer") {
			t.Errorf("%s: unicast without peers renders unicast_peer:\n%s", n.Name, c)
		}
	}
	q.vips(addrs("203.0.113.123"))
	stepDone("use unicast, no peers")

	// unicastIPFailover, second call: the workers' addresses as peers.
	q.rollout(map[string]string{"OPENSHIFT_HA_UNICAST_PEERS": peers})
	q.masterBackup()
	q.env("OPENSHIFT_HA_UNICAST_PEERS=" + peers)
	for _, n := range l.Nodes {
		if c := q.conf(n); !strings.Contains(c, "unicast_peer") {
			t.Errorf("%s: peers set but no unicast_peer in keepalived.conf:\n%s", n.Name, c)
		}
	}
	q.vips(addrs("203.0.113.123"))
	stepDone("unicast peers")

	// 41027/41030 steps 3-5: a VIP in the nodes' subnet (QE: the node
	// address with the last octet 100, which is the lab's client here);
	// the pod whose log says MASTER is the one with the VIP.
	vip := netip.MustParseAddr("192.0.2.200")
	q.rollout(map[string]string{"OPENSHIFT_HA_VIRTUAL_IPS": vip.String()})
	m, _ := q.masterBackup()
	q.env("OPENSHIFT_HA_VIRTUAL_IPS=" + vip.String())
	h := q.vips([]netip.Addr{vip})
	if owner := h[vip]; !slices.Equal(owner, []string{m.Name}) {
		t.Errorf("VIP %s is on %v, the log says %s is MASTER", vip, owner, m.Name)
	}
	stepDone("new VIP")

	// 41028: configuration customised by ENV. The scripts do not exist:
	// the agents log that and serve without them, as the original's
	// keepalived did; the check script replaces the monitor port check
	// (nothing listens on 30061).
	custom := map[string]string{
		"OPENSHIFT_HA_CONFIG_NAME":    "ipfailover",
		"OPENSHIFT_HA_VIP_GROUPS":     "4",
		"OPENSHIFT_HA_MONITOR_PORT":   "30061",
		"OPENSHIFT_HA_VRRP_ID_OFFSET": "2",
		"OPENSHIFT_HA_REPLICA_COUNT":  "3",
		"OPENSHIFT_HA_USE_UNICAST":    "true",
		"OPENSHIFT_HA_IPTABLES_CHAIN": "OUTPUT",
		"OPENSHIFT_HA_NOTIFY_SCRIPT":  "/etc/keepalive/mynotifyscript.sh",
		"OPENSHIFT_HA_CHECK_SCRIPT":   "/etc/keepalive/mycheckscript.sh",
		"OPENSHIFT_HA_PREEMPTION":     "preempt_delay 600",
		"OPENSHIFT_HA_CHECK_INTERVAL": "3",
	}
	q.rollout(custom)
	q.masterBackup()
	var kvs []string
	for k, v := range custom {
		kvs = append(kvs, k+"="+v)
	}
	q.env(append(kvs, "OPENSHIFT_HA_VIRTUAL_IPS="+vip.String())...)
	for _, n := range l.Nodes {
		for _, v := range []string{"OPENSHIFT_HA_CHECK_SCRIPT", "OPENSHIFT_HA_NOTIFY_SCRIPT"} {
			found := false
			for _, line := range compatLinesWith(n, "script cannot be run") {
				found = found || strings.Contains(line, "variable="+v)
			}
			if !found {
				t.Errorf("%s: want a log line saying %s cannot be run (the file does not exist)", n.Name, v)
			}
		}
	}
	q.vips([]netip.Addr{vip})
	q.sameElections()
	stepDone("customised by ENV")

	// 41029: up to 255 VIPs: a whole /24 (not the lab's) in 238 groups.
	q.rollout(map[string]string{
		"OPENSHIFT_HA_VRRP_ID_OFFSET": "0",
		"OPENSHIFT_HA_VIP_GROUPS":     "238",
		"OPENSHIFT_HA_VIRTUAL_IPS":    "198.51.100.1-255",
	})
	q.env("OPENSHIFT_HA_VIP_GROUPS=238")
	q.vips(docRange(1, 255))
	q.sameElections()
	stepDone("255 VIPs, 238 groups")

	// 49214: 254 VIPs, VRID 9 excluded, with the Deployment's groups and
	// offset (QE's test starts from a fresh Deployment): VRIDs 10-19.
	q.rollout(map[string]string{
		"OPENSHIFT_HA_VIRTUAL_IPS":    "198.51.100.1-254",
		"HA_EXCLUDED_VRRP_IDS":        "9",
		"OPENSHIFT_HA_VIP_GROUPS":     "10",
		"OPENSHIFT_HA_VRRP_ID_OFFSET": "9",
	})
	q.env("HA_EXCLUDED_VRRP_IDS=9")
	for _, n := range l.Nodes {
		if c := q.conf(n); strings.Contains(c, "virtual_router_id 9") {
			t.Errorf("%s: keepalived.conf contains \"virtual_router_id 9\" with HA_EXCLUDED_VRRP_IDS=9", n.Name)
		}
	}
	q.vips(docRange(1, 254))
	q.sameElections()
	stepDone("254 VIPs, VRID 9 excluded")

	// 41030: preemption strategy, on a fresh Deployment with unicast and a
	// VIP in the subnet. With nopreempt the restarted primary does not take
	// the VIP back.
	q.vars = qeDeployment()
	q.rollout(map[string]string{
		"OPENSHIFT_HA_USE_UNICAST":   "true",
		"OPENSHIFT_HA_UNICAST_PEERS": peers,
		"OPENSHIFT_HA_VIRTUAL_IPS":   vip.String(),
	})
	master, backup := q.masterBackup()
	q.env("OPENSHIFT_HA_VIRTUAL_IPS="+vip.String(), "OPENSHIFT_HA_PREEMPTION=nopreempt")
	h = q.vips([]netip.Addr{vip})
	if !slices.Equal(h[vip], []string{master.Name}) {
		t.Fatalf("VIP %s is on %v, the log says %s is MASTER", vip, h[vip], master.Name)
	}
	compatStopAll(t, master)
	if err := master.Restart(); err != nil {
		t.Fatal(err)
	}
	q.running()
	waitStable(t, l, []netip.Addr{vip}, 20*time.Second, masterDown+time.Second, func(h lab.Holding) error {
		if !slices.Equal(h[vip], []string{backup.Name}) {
			return fmt.Errorf("VIP on %v, want it on the former backup %s (nopreempt)", h[vip], backup.Name)
		}
		return nil
	})
	stepDone("nopreempt: primary restarted")

	// preempt_delay 3 (QE: 120). After the rollout the node with the
	// higher priority for VIP_1 is master; restarting it hands the VIP to
	// the other, and the replacement takes it back after the delay.
	const delay = 3 * time.Second
	q.rollout(map[string]string{"OPENSHIFT_HA_PREEMPTION": "preempt_delay 3"})
	q.env("OPENSHIFT_HA_PREEMPTION=preempt_delay 3")
	pref := q.preferred()
	waitStable(t, l, []netip.Addr{vip}, 30*time.Second, masterDown+time.Second, func(h lab.Holding) error {
		if !slices.Equal(h[vip], []string{pref.Name}) {
			return fmt.Errorf("VIP on %v, want it on %s, which has the higher priority and preempts after 3s", h[vip], pref.Name)
		}
		return nil
	})
	master, backup = q.masterBackup()
	if master != pref {
		t.Fatalf("the log says %s is MASTER, want %s (the higher priority)", master.Name, pref.Name)
	}
	compatStopAll(t, master)
	if err := master.Restart(); err != nil {
		t.Fatal(err)
	}
	kp := waitKeepalived(t, master, 0, 20*time.Second)
	started := time.Now()
	var sawBackup bool
	err := lab.Poll(t.Context(), delay+masterDown+10*time.Second, 20*time.Millisecond, func() error {
		h, err := l.Holders([]netip.Addr{vip})
		if err != nil {
			return err
		}
		if err := h.AtMostOne(); err != nil {
			t.Fatalf("during the preemption: %v", err)
		}
		sawBackup = sawBackup || slices.Equal(h[vip], []string{backup.Name})
		if !slices.Equal(h[vip], []string{master.Name}) {
			return fmt.Errorf("VIP on %v", h[vip])
		}
		return nil
	})
	took := time.Since(started)
	if err != nil {
		t.Fatalf("the replacement on %s (keepalived PID %d) did not take VIP %s back: %v", master.Name, kp.PID, vip, err)
	}
	if !sawBackup {
		t.Errorf("VIP %s never seen on %s while %s restarted", vip, backup.Name, master.Name)
	}
	t.Logf("replacement on %s took %s back %v after its keepalived started (preempt_delay %v)", master.Name, vip, took.Round(time.Millisecond), delay)
	if took < delay {
		t.Errorf("the replacement preempted after %v, before preempt_delay %v", took.Round(time.Millisecond), delay)
	}
	q.masterBackup()
	q.vips([]netip.Addr{vip})
	stepDone("preempt_delay 3")
}

// preferred returns the node VRRP elects for ipfailover_VIP_1: the higher
// priority, then the higher address.
func (q *qe) preferred() *lab.Node {
	q.t.Helper()
	var best *lab.Node
	bestPrio := -1
	for _, n := range q.l.Nodes {
		ins, err := lab.ParseInstances([]byte(q.conf(n)))
		if err != nil {
			q.t.Fatal(err)
		}
		i := slices.IndexFunc(ins, func(in lab.ConfInstance) bool { return in.Name == "ipfailover_VIP_1" })
		if i < 0 {
			q.t.Fatalf("%s: no ipfailover_VIP_1 in keepalived.conf", n.Name)
		}
		p := ins[i].Priority
		if p > bestPrio || (p == bestPrio && n.IPv4.Compare(best.IPv4) > 0) {
			best, bestPrio = n, p
		}
	}
	return best
}

// docRange returns 198.51.100.from .. 198.51.100.to.
func docRange(from, to int) []netip.Addr {
	var out []netip.Addr
	for i := from; i <= to; i++ {
		out = append(out, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
	}
	return out
}
