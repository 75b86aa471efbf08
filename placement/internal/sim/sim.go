// Package sim measures the placement package's priority scheme: it elects a
// master for every VIP group over many random node sets and compares the
// loads with those of the original bash image's algorithm (Original). It
// exists for the README's table (placement/cmd/placementsim) and the tests
// that keep the scheme at least as good as the original; the agent never
// runs it.
package sim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"

	"github.com/ipfailover/ipfailover/placement"
)

// Case is one simulated configuration: Nodes nodes sharing Groups VRRP groups.
type Case struct {
	Nodes, Groups int
}

// DefaultCases returns the configurations reported in the README.
func DefaultCases() []Case {
	return []Case{{2, 2}, {3, 3}, {4, 7}, {5, 10}, {5, 5}, {10, 50}}
}

// Stats summarises one scheme over many random node sets. "Load" is the
// number of groups a node masters.
type Stats struct {
	MeanMax          float64 // mean of the largest load
	P95Max           float64 // 95th percentile (nearest rank) of the largest load
	MeanIdle         float64 // mean number of nodes that master no group
	MeanMaxAfterFail float64 // mean largest load after the most loaded node fails
}

// Result holds the figures for one Case.
type Result struct {
	Case
	Ideal          int   // ⌈G/N⌉
	IdealAfterFail int   // ⌈G/(N-1)⌉, 0 for a single node
	Ours           Stats // node set unknown (multicast), replicas = N
	Original       Stats // the bash image's algorithm on the same node sets
	Unicast        Stats // ours with the node set known
}

// Simulate elects a master for every group of every case, runs times per
// case, each time on a fresh set of distinct random addresses in
// 192.0.2.1-192.0.2.254, and summarises the loads for our scheme (with and
// without the node set) and for the original one, all on the same address
// sets. The same seed gives the same results. Nodes must be in 1..254.
func Simulate(cases []Case, runs int, seed int64) []Result {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	results := make([]Result, 0, len(cases))
	for _, c := range cases {
		if c.Nodes < 1 || c.Nodes > 254 {
			panic(fmt.Sprintf("sim.Simulate: %d nodes do not fit in one /24 (accepted: 1..254)", c.Nodes))
		}
		var ours, orig, uni []runStats
		for range runs {
			addrs := randomNodes(rng, c.Nodes)
			ours = append(ours, measure(addrs, c.Groups, func(a netip.Addr) []int {
				return placement.Priorities(a, nil, c.Groups, c.Nodes)
			}))
			orig = append(orig, measure(addrs, c.Groups, func(a netip.Addr) []int {
				return Original(a, c.Groups, c.Nodes, rng)
			}))
			uni = append(uni, measure(addrs, c.Groups, func(a netip.Addr) []int {
				return placement.Priorities(a, addrs, c.Groups, c.Nodes)
			}))
		}
		r := Result{
			Case:     c,
			Ideal:    ceilDiv(c.Groups, c.Nodes),
			Ours:     summarise(ours),
			Original: summarise(orig),
			Unicast:  summarise(uni),
		}
		if c.Nodes > 1 {
			r.IdealAfterFail = ceilDiv(c.Groups, c.Nodes-1)
		}
		results = append(results, r)
	}
	return results
}

// Table renders results as a markdown table, ours next to the original.
func Table(results []Result) string {
	var b strings.Builder
	b.WriteString("| N | G | ideal max | max load: ours / orig | p95 max: ours / orig | idle nodes: ours / orig " +
		"| max after worst node fails: ours / orig (ideal) | unicast: max / after fail |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %d | %d | %d | %.2f / %.2f | %.0f / %.0f | %.2f / %.2f | %.2f / %.2f (%d) | %.2f / %.2f |\n",
			r.Nodes, r.Groups, r.Ideal,
			r.Ours.MeanMax, r.Original.MeanMax,
			r.Ours.P95Max, r.Original.P95Max,
			r.Ours.MeanIdle, r.Original.MeanIdle,
			r.Ours.MeanMaxAfterFail, r.Original.MeanMaxAfterFail, r.IdealAfterFail,
			r.Unicast.MeanMax, r.Unicast.MeanMaxAfterFail)
	}
	return b.String()
}

// runStats is what one election on one node set yields.
type runStats struct {
	max, idle, maxAfterFail int
}

// measure computes every node's priorities with prio, elects each group's
// master, then fails the most loaded node (the lowest address among equals)
// and elects again among the survivors.
func measure(addrs []netip.Addr, groups int, prio func(netip.Addr) []int) runStats {
	prios := make([][]int, len(addrs))
	for i, a := range addrs {
		prios[i] = prio(a)
	}
	alive := make([]bool, len(addrs))
	for i := range alive {
		alive[i] = true
	}
	loads := elect(addrs, prios, alive, groups)
	worst := 0
	idle := 0
	for i, l := range loads {
		if l > loads[worst] {
			worst = i
		}
		if l == 0 {
			idle++
		}
	}
	s := runStats{max: loads[worst], idle: idle}
	if len(addrs) > 1 {
		alive[worst] = false
		s.maxAfterFail = slices.Max(elect(addrs, prios, alive, groups))
	}
	return s
}

// elect returns how many groups each node masters: the highest priority
// among the alive nodes wins, ties go to the higher address as in VRRP.
func elect(addrs []netip.Addr, prios [][]int, alive []bool, groups int) []int {
	loads := make([]int, len(addrs))
	for g := range groups {
		winner := -1
		for i := range addrs {
			if !alive[i] {
				continue
			}
			if winner < 0 || prios[i][g] > prios[winner][g] ||
				(prios[i][g] == prios[winner][g] && addrs[i].Compare(addrs[winner]) > 0) {
				winner = i
			}
		}
		if winner >= 0 {
			loads[winner]++
		}
	}
	return loads
}

func summarise(runs []runStats) Stats {
	if len(runs) == 0 {
		return Stats{}
	}
	var s Stats
	maxes := make([]int, len(runs))
	for i, r := range runs {
		maxes[i] = r.max
		s.MeanMax += float64(r.max)
		s.MeanIdle += float64(r.idle)
		s.MeanMaxAfterFail += float64(r.maxAfterFail)
	}
	n := float64(len(runs))
	s.MeanMax /= n
	s.MeanIdle /= n
	s.MeanMaxAfterFail /= n
	slices.Sort(maxes)
	s.P95Max = float64(maxes[ceilDiv(95*len(maxes), 100)-1])
	return s
}

// randomNodes draws n distinct addresses from 192.0.2.1-192.0.2.254.
func randomNodes(rng *rand.Rand, n int) []netip.Addr {
	addrs := make([]netip.Addr, n)
	for i, o := range rng.Perm(254)[:n] {
		addrs[i] = netip.AddrFrom4([4]byte{192, 0, 2, byte(o + 1)})
	}
	return addrs
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
