// Package placement owns the choice of each node's VRRP priority per VIP
// group, so that the MASTER role for the groups spreads across the nodes
// instead of piling up on one of them.
//
// VRRP elects the highest priority and breaks ties in favour of the higher
// primary address. Every node computes its own priorities without talking to
// the others, so the scheme is a pure function of what all nodes agree on:
// the node set (when it is configured), the group count and the replica count.
// Priorities never depend on which nodes are alive, so a node that restarts
// gets the same priorities back and groups never move between the other nodes.
//
// # Node set known (unicast peers)
//
// The nodes are sorted by address and numbered 0..N-1. Group g (0-based) is
// mastered by node g mod N, so every node masters ⌊G/N⌋ or ⌈G/N⌉ groups; call
// the first G mod N nodes "heavy" (they master one extra group). The groups a
// master owns are handed to its backups round-robin, light nodes first, so
// when one node fails no survivor masters more than ⌈G/(N-1)⌉ groups.
// The master gets priority 254, the backups 253, 252, ... in that round-robin
// order, so priorities within a group are distinct. With more than 254 nodes
// the 253rd backup onwards all get priority 1 and VRRP's address tie-break
// orders them; the master and the first backup keep the guarantees above.
//
// # Node set unknown (multicast)
//
// Each node derives a key k in 0..253 from its own address: the address read
// as a big-endian integer, modulo 254. Any 254 consecutive addresses get
// distinct keys, so in particular all host addresses .1-.254 of a /24 do.
// Two addresses collide only if they differ by a multiple of 254 (in a /24:
// .0/.254 and .1/.255); colliding nodes tie and the higher address wins.
//
//   - replicas ≤ 2: odd groups get priority k+1 and even groups 254-k, so the
//     order of any two nodes flips from one group to the next and two nodes
//     alternate exactly. (With more nodes only the highest and lowest key
//     master anything, which is why OPENSHIFT_HA_REPLICA_COUNT should be set.)
//   - replicas ≥ 3: the keys are points on a circle of 254 positions and group
//     g gets a target point spaced evenly around it; the node whose key is
//     nearest to the target gets the highest priority (254 minus twice the
//     distance, clockwise side first, so keys map to distinct priorities).
//     This is consistent hashing: each node masters the targets in its
//     Voronoi cell. Two nodes still split the groups ⌊G/2⌋/⌈G/2⌉, because
//     two points cut the circle into two halves.
package placement

import (
	"net/netip"
	"slices"
)

const (
	// maxPriority is the highest priority we hand out; 255 is reserved by
	// VRRP for the owner of the virtual address.
	maxPriority = 254
	// circle is the number of key positions; it equals the number of usable
	// priorities (1..254) so that a key maps one-to-one onto a priority.
	circle = 254
)

// Priorities returns this node's priority for each of the groups VRRP groups
// (index 0 = group 1), each in 1..254.
//
// self is this node's address. nodes is the full node set when known (it may
// be unsorted, contain duplicates and contain or omit self; it must be the
// same on every node); nil or empty means unknown (multicast). replicas is
// OPENSHIFT_HA_REPLICA_COUNT and is only used when the node set is unknown.
func Priorities(self netip.Addr, nodes []netip.Addr, groups, replicas int) []int {
	if groups <= 0 {
		return []int{}
	}
	if len(nodes) == 0 {
		return unknownSet(key(self), groups, replicas)
	}
	return knownSet(self, nodes, groups)
}

// knownSet implements the unicast scheme described in the package doc.
func knownSet(self netip.Addr, nodes []netip.Addr, groups int) []int {
	set := make([]netip.Addr, 0, len(nodes)+1)
	for _, a := range append(slices.Clip(nodes), self) {
		set = append(set, normalize(a))
	}
	slices.SortFunc(set, netip.Addr.Compare)
	set = slices.Compact(set)
	n := len(set)
	me, _ := slices.BinarySearchFunc(set, normalize(self), netip.Addr.Compare)
	heavy := groups % n // nodes 0..heavy-1 master one group more than the rest

	out := make([]int, groups)
	for g := range out {
		master := g % n
		if master == me {
			out[g] = maxPriority
			continue
		}
		// This is the k-th group owned by master; its backups take turns so
		// that master's groups spread evenly when it fails.
		k := g / n
		order := backupOrder(master, n, heavy)
		pos := slices.Index(order, me)
		rank := 1 + (pos-k%(n-1)+(n-1))%(n-1)
		out[g] = max(1, maxPriority-rank)
	}
	return out
}

// backupOrder lists every node except master, the ones that master fewer
// groups first, each part in ring order after master. Handing a failed
// master's groups out in this order keeps every survivor at or below
// ⌈G/(N-1)⌉.
func backupOrder(master, n, heavy int) []int {
	light := make([]int, 0, n-1)
	var heavies []int
	for i := 1; i < n; i++ {
		s := (master + i) % n
		if s >= heavy {
			light = append(light, s)
		} else {
			heavies = append(heavies, s)
		}
	}
	return append(light, heavies...)
}

// unknownSet implements the multicast scheme described in the package doc.
func unknownSet(k, groups, replicas int) []int {
	out := make([]int, groups)
	for g := range out {
		switch {
		case replicas <= 2 && g%2 == 0:
			out[g] = k + 1
		case replicas <= 2:
			out[g] = circle - k
		default:
			target := (2*g + 1) * circle / (2 * groups)
			out[g] = maxPriority - distanceCode(k, target)
		}
	}
	return out
}

// distanceCode ranks key k by its distance to target on the circle: 0 for
// the target itself, then 1, 2, 3, ... alternating clockwise and
// counter-clockwise neighbours. It is a bijection from 0..253 onto 0..253, so
// distinct keys never tie.
func distanceCode(k, target int) int {
	d := ((k-target)%circle + circle) % circle // clockwise distance
	switch {
	case d == 0:
		return 0
	case d <= circle/2:
		return 2*d - 1
	default:
		return 2 * (circle - d)
	}
}

// key maps an address to 0..253: the address as a big-endian integer modulo
// 254. An invalid address maps to 0.
func key(a netip.Addr) int {
	k := 0
	for _, b := range normalize(a).AsSlice() {
		k = (k*256 + int(b)) % circle
	}
	return k
}

// normalize makes equal addresses compare equal whatever their spelling:
// IPv4-mapped IPv6 becomes IPv4 and zones are dropped.
func normalize(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}
