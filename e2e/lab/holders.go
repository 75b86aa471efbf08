package lab

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// Holders maps each VIP to the names of the nodes that have it on eth0, in
// node order. A VIP held by no node maps to an empty slice.
func (l *Lab) Holders(vips []netip.Addr) (Holding, error) {
	h := Holding{}
	for _, v := range vips {
		h[v] = nil
	}
	for _, n := range l.Nodes {
		addrs, err := n.Addrs()
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			if _, ok := h[a.Addr()]; ok {
				h[a.Addr()] = append(h[a.Addr()], n.Name)
			}
		}
	}
	return h, nil
}

// Holding says which nodes hold each VIP.
type Holding map[netip.Addr][]string

// ExactlyOne returns an error naming every VIP held by no node or by more
// than one node.
func (h Holding) ExactlyOne() error {
	return h.check(func(n int) bool { return n == 1 }, "want exactly one holder")
}

// AtMostOne returns an error naming every VIP held by more than one node.
func (h Holding) AtMostOne() error {
	return h.check(func(n int) bool { return n <= 1 }, "want at most one holder")
}

func (h Holding) check(ok func(int) bool, want string) error {
	var bad []string
	for _, v := range h.sorted() {
		if !ok(len(h[v])) {
			bad = append(bad, fmt.Sprintf("%s on %v", v, h[v]))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s: %s", want, strings.Join(bad, ", "))
	}
	return nil
}

// HeldBy returns the VIPs that node holds, sorted.
func (h Holding) HeldBy(node string) []netip.Addr {
	var out []netip.Addr
	for _, v := range h.sorted() {
		if slices.Contains(h[v], node) {
			out = append(out, v)
		}
	}
	return out
}

// String renders the holding sorted by VIP, for logs.
func (h Holding) String() string {
	var parts []string
	for _, v := range h.sorted() {
		parts = append(parts, fmt.Sprintf("%s:%v", v, h[v]))
	}
	return strings.Join(parts, " ")
}

func (h Holding) sorted() []netip.Addr {
	vs := make([]netip.Addr, 0, len(h))
	for v := range h {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Less(vs[j]) })
	return vs
}
