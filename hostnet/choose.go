package hostnet

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// WhyExplicit is ChooseInterface's reason when the operator named the
// interface.
const WhyExplicit = "set by OPENSHIFT_HA_NETWORK_INTERFACE"

// ChooseInterface picks the interface that carries the VIPs, as the original
// image did and in this order:
//
//  1. explicit (OPENSHIFT_HA_NETWORK_INTERFACE) when it is not empty;
//  2. else the interface with a connected subnet holding the first group's
//     VIPs: an address on it whose prefix contains a VIP. Host-length (/32,
//     /128) addresses and addresses equal to a VIP do not count, so a VIP
//     left by a crashed run does not vote for itself. This is what makes a
//     node without a default route work;
//  3. else the interface of the default route of the VIPs' family, looked
//     for in every routing table (policy routing often keeps it out of
//     main), main preferred, then the lowest table number and metric.
//
// why says which rule decided, for the log, e.g. "its connected subnet
// 192.0.2.0/24 holds VIP 192.0.2.100". With nothing to decide by, or when the
// VIPs point at different interfaces, the error says which variables to set.
func (n *Net) ChooseInterface(explicit string, firstGroupVIPs []netip.Prefix) (name, why string, err error) {
	if explicit != "" {
		return chooseInterface(snapshot{}, explicit, firstGroupVIPs)
	}
	s, err := n.read(true)
	if err != nil {
		return "", "", fmt.Errorf("choose the interface for the VIPs: %w", err)
	}
	return chooseInterface(s, "", firstGroupVIPs)
}

// chooseInterface is ChooseInterface over data.
func chooseInterface(s snapshot, explicit string, vips []netip.Prefix) (name, why string, err error) {
	if explicit != "" {
		if err := checkIfName(explicit); err != nil {
			return "", "", fmt.Errorf("OPENSHIFT_HA_NETWORK_INTERFACE: %w", err)
		}
		return explicit, WhyExplicit, nil
	}
	var addrs []netip.Addr
	for _, v := range vips {
		if v.IsValid() {
			addrs = append(addrs, normalize(v).Addr())
		}
	}

	m, err := connectedSubnet(s, addrs)
	if err != nil {
		return "", "", err
	}
	if m.link != "" {
		return m.link, fmt.Sprintf("its connected subnet %s holds VIP %s", m.subnet, m.vip), nil
	}

	var fams []int
	for _, a := range addrs {
		if !slices.Contains(fams, familyOf(a)) {
			fams = append(fams, familyOf(a))
		}
	}
	if len(fams) == 0 {
		fams = []int{4, 6}
	}
	for _, fam := range fams {
		if r, l, ok := defaultRoute(s, fam); ok {
			if r.gw.IsValid() {
				return l.name, fmt.Sprintf("default route via %s in table %s", r.gw, tableName(r.table)), nil
			}
			return l.name, fmt.Sprintf("default route without a gateway in table %s", tableName(r.table)), nil
		}
	}

	famNames := make([]string, len(fams))
	for i, f := range fams {
		famNames[i] = familyName(f)
	}
	held := "the VIPs"
	if len(addrs) > 0 {
		held = "VIP " + joinAddrs(addrs) + " of the first group"
	}
	return "", "", fmt.Errorf("cannot choose the interface for the VIPs: OPENSHIFT_HA_NETWORK_INTERFACE is unset, no interface has a connected subnet holding %s, and no routing table has an %s default route; set OPENSHIFT_HA_NETWORK_INTERFACE to the interface that carries the VIPs (a name like eth0 or bond0.100), or list in OPENSHIFT_HA_VIRTUAL_IPS VIPs from a subnet the node has an address in",
		held, strings.Join(famNames, " or "))
}

// subnetMatch is a connected subnet holding a VIP.
type subnetMatch struct {
	link   string // "" when no VIP is in a connected subnet
	subnet netip.Prefix
	vip    netip.Addr
}

// connectedSubnet finds the interface whose connected subnets hold the VIPs.
// Per VIP the longest matching prefix wins, as in routing. VIPs outside every
// connected subnet (routed VIPs, say) do not vote; the others must agree,
// because one VRRP instance carries all of a group's VIPs on one interface.
func connectedSubnet(s snapshot, vips []netip.Addr) (subnetMatch, error) {
	var chosen subnetMatch
	for _, vip := range vips {
		best := bestSubnets(s, vip, vips)
		switch {
		case len(best) == 0:
			continue
		case len(best) > 1:
			where := make([]string, len(best))
			for i, m := range best {
				where[i] = fmt.Sprintf("%s (%s)", m.link, m.subnet)
			}
			return subnetMatch{}, fmt.Errorf("cannot choose the interface for the VIPs: VIP %s is in a connected subnet of several interfaces: %s; set OPENSHIFT_HA_NETWORK_INTERFACE to the one that carries the VIPs",
				vip, strings.Join(where, ", "))
		case chosen.link == "":
			chosen = best[0]
		case chosen.link != best[0].link:
			return subnetMatch{}, fmt.Errorf("cannot choose the interface for the VIPs: the first group's VIPs are in connected subnets of different interfaces: %s in %s (%s), %s in %s (%s); set OPENSHIFT_HA_NETWORK_INTERFACE, or split the VIPs into groups with OPENSHIFT_HA_VIP_GROUPS",
				chosen.vip, chosen.link, chosen.subnet, vip, best[0].link, best[0].subnet)
		}
	}
	return chosen, nil
}

// bestSubnets returns, one per interface, the connected subnets holding vip
// with the longest prefix found.
func bestSubnets(s snapshot, vip netip.Addr, vips []netip.Addr) []subnetMatch {
	var best []subnetMatch
	for _, l := range s.links {
		if l.loopback {
			continue
		}
		for _, a := range l.addrs {
			p := a.prefix
			if p.Addr().BitLen() != vip.BitLen() || p.Bits() == p.Addr().BitLen() ||
				a.scope == unix.RT_SCOPE_HOST || slices.Contains(vips, p.Addr()) || !p.Contains(vip) {
				continue
			}
			m := subnetMatch{link: l.name, subnet: p.Masked(), vip: vip}
			switch {
			case len(best) == 0 || p.Bits() > best[0].subnet.Bits():
				best = []subnetMatch{m}
			case p.Bits() == best[0].subnet.Bits() && !slices.ContainsFunc(best, func(b subnetMatch) bool { return b.link == l.name }):
				best = append(best, m)
			}
		}
	}
	return best
}

// defaultRoute finds the default route of family fam that decides the
// interface: unicast (not unreachable or blackhole), through an existing
// interface other than loopback, in the main table if there is one there,
// else in the lowest-numbered table; the lowest metric within a table.
func defaultRoute(s snapshot, fam int) (route, iface, bool) {
	type cand struct {
		r route
		l iface
	}
	var cands []cand
	for _, r := range s.routes {
		if !r.dst.IsValid() || r.dst.Bits() != 0 || familyOf(r.dst.Addr()) != fam || r.typ != unix.RTN_UNICAST {
			continue
		}
		l, ok := s.byIndex(r.linkIndex)
		if !ok || l.loopback {
			continue
		}
		cands = append(cands, cand{r, l})
	}
	if len(cands) == 0 {
		return route{}, iface{}, false
	}
	c := slices.MinFunc(cands, func(a, b cand) int {
		if am, bm := a.r.table == unix.RT_TABLE_MAIN, b.r.table == unix.RT_TABLE_MAIN; am != bm {
			if am {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.r.table, b.r.table), cmp.Compare(a.r.priority, b.r.priority))
	})
	return c.r, c.l, true
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
