package placement

import (
	"net/netip"
	"testing"
)

// Nodes usually get consecutive addresses; with the node set unknown they
// must still share the groups, none idle.
func TestUnknownSetConsecutiveAddressesShare(t *testing.T) {
	for _, c := range []struct{ n, groups int }{{3, 6}, {3, 9}, {4, 8}, {5, 10}} {
		for first := 1; first+c.n <= 255; first += 17 {
			nodes := make([]netip.Addr, c.n)
			for i := range nodes {
				nodes[i] = netip.AddrFrom4([4]byte{192, 0, 2, byte(first + i)})
			}
			load := map[netip.Addr]int{}
			for g := 0; g < c.groups; g++ {
				best, bestP := netip.Addr{}, -1
				for _, a := range nodes {
					p := Priorities(a, nil, c.groups, c.n)[g]
					if p > bestP || (p == bestP && a.Compare(best) > 0) {
						best, bestP = a, p
					}
				}
				load[best]++
			}
			for _, a := range nodes {
				if load[a] == 0 || load[a] > ceilDiv(c.groups, c.n)+1 {
					t.Errorf("N=%d G=%d nodes from %v: %v masters %d groups (loads %v)", c.n, c.groups, nodes[0], a, load[a], load)
				}
			}
		}
	}
}
