package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/e2e/lab"
)

// Issue 7: with the node set known (unicast peers), three nodes and six
// groups place exactly two groups on each node; when one node stops, the
// survivors master three each; when it is back (preempt_delay 0), the
// original placement returns.
func TestPlacementUnicastBalance(t *testing.T) {
	l := newLab(t, 3)
	vipStr := "192.0.2.200-205" // one VIP per group: 6 groups
	vips := vipList(vipStr)
	startAgents(t, l, vipStr, fast(map[string]string{
		"OPENSHIFT_HA_UNICAST_PEERS": peersOf(l),
		"OPENSHIFT_HA_REPLICA_COUNT": "3",
	}))
	perNode := func(want map[string]int) func(lab.Holding) error {
		return func(h lab.Holding) error {
			if err := h.ExactlyOne(); err != nil {
				return err
			}
			for _, n := range l.Nodes {
				if got := len(h.HeldBy(n.Name)); got != want[n.Name] {
					return fmt.Errorf("%s masters %d groups, want %d; placement %v", n.Name, got, want[n.Name], h)
				}
			}
			return nil
		}
	}
	balanced := map[string]int{"n1": 2, "n2": 2, "n3": 2}
	h := waitStable(t, l, vips, 20*time.Second, fastMasterDown+time.Second, perNode(balanced))
	initial := map[string][]netip.Addr{}
	for _, n := range l.Nodes {
		initial[n.Name] = h.HeldBy(n.Name)
	}
	t.Logf("3 nodes, 6 groups: %v", h)

	stopped := l.Nodes[1]
	if code, err := stopped.Stop(10 * time.Second); err != nil || code != 0 {
		t.Fatalf("graceful stop of %s: exit %d, %v", stopped.Name, code, err)
	}
	survivors := map[string]int{"n1": 3, "n2": 0, "n3": 3}
	h = waitStable(t, l, vips, 10*time.Second, fastMasterDown+time.Second, perNode(survivors))
	t.Logf("%s stopped: %v", stopped.Name, h)
	// Stability: the survivors keep their own groups and only add.
	for _, n := range otherThan(l, stopped) {
		for _, v := range initial[n.Name] {
			if !slices.Contains(h.HeldBy(n.Name), v) {
				t.Errorf("%s lost its own group %s when %s stopped", n.Name, v, stopped.Name)
			}
		}
	}

	if err := stopped.Restart(); err != nil {
		t.Fatal(err)
	}
	h = waitStable(t, l, vips, 20*time.Second, fastMasterDown+time.Second, perNode(balanced))
	t.Logf("%s back: %v", stopped.Name, h)
	for _, n := range l.Nodes {
		if !slices.Equal(h.HeldBy(n.Name), initial[n.Name]) {
			t.Errorf("%s masters %v after the restart, had %v before", n.Name, h.HeldBy(n.Name), initial[n.Name])
		}
	}
}
