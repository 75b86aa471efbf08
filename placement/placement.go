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
// # Priority band
//
// Every priority handed out to the first 128 ranks lies in 127..254. A
// backup takes over after the master's priority-0 advert within its skew
// time, (256-priority)/256 advert intervals (a whole second for VRRPv2), so
// the band bounds the skew at 0.5 s: a graceful stop hands over in about
// 0.5 s and a lost node in 3 adverts + 0.5 s, whatever the addresses.
// Spreading priorities over 1..254 would let a low-priority backup wait
// almost a full second more.
//
// # Node set unknown (multicast)
//
// With replicas ≥ 3 each node derives a key k in 0..253 from its own
// address: the address read as a big-endian integer, modulo 254, times 157
// (about 254/φ) modulo 254, so that consecutive addresses, the common case,
// land far apart on the circle.
//
//   - replicas ≤ 2: with k' the address's last 7 bits (the last octet
//     modulo 128), odd groups get priority 127+k' and even groups 254-k', so the order of any two nodes flips from one group
//     to the next and two nodes alternate exactly. Two addresses whose keys
//     agree modulo 128 (in a /24, e.g. .1 and .129) tie and the higher
//     address wins every group, the same weakness the original's "last
//     octet mod 128" had. (With more nodes only the highest and lowest key
//     master anything, which is why OPENSHIFT_HA_REPLICA_COUNT should be set.)
//   - replicas ≥ 3: the keys are points on a circle of 254 positions and group
//     g gets a target point spaced evenly around it; the node whose key is
//     nearest to the target gets the highest priority, 254 minus the
//     distance (0..127); equidistant nodes tie and the higher address wins.
//     This is consistent hashing: each node masters the targets in its
//     Voronoi cell.
package placement

import (
	"net/netip"
	"slices"
)

const (
	// maxPriority is the highest priority we hand out; 255 is reserved by
	// VRRP for the owner of the virtual address.
	maxPriority = 254
	// minBand is the lowest priority of the band the schemes use (see the
	// package doc): it bounds a backup's skew time at 0.5 advert-seconds.
	minBand = 127
	// spread scatters consecutive keys around the circle (see key).
	spread = 157
	// bandSize is the number of priorities in minBand..maxPriority.
	bandSize = maxPriority - minBand + 1
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
		return unknownSet(key(self), lowBits(self), groups, replicas)
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
func unknownSet(k, low, groups, replicas int) []int {
	out := make([]int, groups)
	for g := range out {
		switch {
		case replicas <= 2 && g%2 == 0:
			out[g] = minBand + low
		case replicas <= 2:
			out[g] = maxPriority - low
		default:
			target := (2*g + 1) * circle / (2 * groups)
			out[g] = maxPriority - distance(k, target)
		}
	}
	return out
}

// distance is the distance between key k and target on the circle, 0..127.
func distance(k, target int) int {
	d := ((k-target)%circle + circle) % circle // clockwise distance
	return min(d, circle-d)
}

// lowBits is the address's last 7 bits, 0..127: in a /24 it is the last
// octet modulo 128.
func lowBits(a netip.Addr) int {
	b := normalize(a).AsSlice()
	if len(b) == 0 {
		return 0
	}
	return int(b[len(b)-1]) % bandSize
}

// key maps an address to 0..253: the address as a big-endian integer modulo
// 254. An invalid address maps to 0.
func key(a netip.Addr) int {
	k := 0
	for _, b := range normalize(a).AsSlice() {
		k = (k*256 + int(b)) % circle
	}
	// Nodes usually have consecutive addresses, which would sit next to
	// each other on the circle and leave the middle ones tiny cells.
	// Multiplying by a constant near 254/φ (coprime with 254, so still a
	// permutation) spreads any run of consecutive addresses evenly.
	return k * spread % circle
}

// normalize makes equal addresses compare equal whatever their spelling:
// IPv4-mapped IPv6 becomes IPv4 and zones are dropped.
func normalize(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}
