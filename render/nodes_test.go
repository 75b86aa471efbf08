package render

import (
	"net/netip"
	"testing"
)

// TestKnownNodesGiveExactPlacement: with the node set known (from the
// Kubernetes API), multicast priorities follow the exact scheme: every
// group has one highest-priority node and each of 4 nodes masters 2 or 3
// of 10 groups.
func TestKnownNodesGiveExactPlacement(t *testing.T) {
	cfg := mustConfig(t, []string{"OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100-109", "OPENSHIFT_HA_REPLICA_COUNT=4"})
	nodes := []netip.Addr{
		netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.12"),
		netip.MustParseAddr("192.0.2.13"), netip.MustParseAddr("192.0.2.14"),
	}
	prio := map[netip.Addr][]int{}
	for _, self := range nodes {
		p, err := NewPlan(cfg, Host{Interface: "eth0", Addr4: self}, Options{CheckFile: goldenCheckFile, Nodes: nodes})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range p.Instances {
			prio[self] = append(prio[self], in.Priority)
		}
	}
	load := map[netip.Addr]int{}
	for g := range 10 {
		best, tie := netip.Addr{}, false
		for _, n := range nodes {
			switch {
			case !best.IsValid() || prio[n][g] > prio[best][g]:
				best, tie = n, false
			case prio[n][g] == prio[best][g]:
				tie = true
			}
		}
		if tie {
			t.Fatalf("group %d: two nodes share the highest priority %v", g+1, prio)
		}
		load[best]++
	}
	for _, n := range nodes {
		if load[n] < 2 || load[n] > 3 {
			t.Errorf("node %s masters %d groups, want 2 or 3 (loads %v)", n, load[n], load)
		}
	}
}
