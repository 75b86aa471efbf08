package sim

import (
	"math/rand/v2"
	"net/netip"
)

// Original reimplements, for comparison only, the priority algorithm of the
// bash keepalived-ipfailover image this project replaces (config-generators.sh):
//
//	ipslot = last octet of the node's IPv4 address mod 128
//	idx    = ipslot mod replicas + 1        (replicas < 1 counts as 1)
//	for group c = 1..G:
//	    priority = ipslot mod 64 + random 0..31
//	    if c mod idx == 0 the group is "claimed": the 1st, 3rd, ... claim gets
//	    255 - ipslot and the 2nd, 4th, ... claim gets ipslot + 1
//
// That alternation is the default (preempting) behaviour; with nopreempt the
// original gives every claim the high priority, which is not modelled here.
// A node without an IPv4 address has ipslot 0, as in the original. The
// result can contain 0 and 255, which are outside the range keepalived
// accepts; callers electing a master just compare the numbers. rng supplies
// the per-group random offsets (bash's $RANDOM).
func Original(self netip.Addr, groups, replicas int, rng *rand.Rand) []int {
	ipslot := 0
	if a := self.Unmap(); a.Is4() {
		ipslot = int(a.As4()[3]) % 128
	}
	if replicas < 1 {
		replicas = 1
	}
	idx := ipslot%replicas + 1

	out := make([]int, groups)
	highNext := true // whether the next claim gets the high priority
	for c := 1; c <= groups; c++ {
		p := ipslot%64 + rng.IntN(32)
		if c%idx == 0 {
			if highNext {
				p = 255 - ipslot
			} else {
				p = ipslot + 1
			}
			highNext = !highNext
		}
		out[c-1] = p
	}
	return out
}
