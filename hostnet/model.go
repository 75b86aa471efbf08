package hostnet

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// This file holds the data a decision needs, as read from the kernel, and
// the helpers shared by the decisions. Nothing here talks to the kernel.

// snapshot is the part of the kernel's network state the decisions read.
type snapshot struct {
	links  []iface // in ifindex order, as the kernel lists them
	routes []route // IPv4 and IPv6, every routing table
}

// iface is one interface with its addresses.
type iface struct {
	index    int
	name     string
	up       bool // administratively up (IFF_UP); carrier does not matter here
	loopback bool
	addrs    []ifAddr // in kernel order
}

// ifAddr is one configured address.
type ifAddr struct {
	prefix netip.Prefix // the address with its configured prefix length, host bits kept
	scope  int          // unix.RT_SCOPE_*
	flags  int          // unix.IFA_F_*
}

// route is one routing table entry. Multipath routes are reduced to their
// first next hop: that is enough to name an interface.
type route struct {
	table     int
	dst       netip.Prefix // 0.0.0.0/0 or ::/0 for a default route
	gw        netip.Addr   // invalid when the route has no gateway
	linkIndex int
	priority  int // the metric: lower wins
	typ       int // unix.RTN_*: only unicast routes carry traffic out
}

func (s snapshot) byName(name string) (iface, bool) {
	for _, l := range s.links {
		if l.name == name {
			return l, true
		}
	}
	return iface{}, false
}

func (s snapshot) byIndex(index int) (iface, bool) {
	for _, l := range s.links {
		if l.index == index {
			return l, true
		}
	}
	return iface{}, false
}

// maxIfNameLen is IFNAMSIZ-1, the kernel's limit on interface names.
const maxIfNameLen = 15

// checkIfName rejects names the kernel cannot have, so they are reported as
// bad input instead of as an obscure netlink error.
func checkIfName(ifname string) error {
	if ifname == "" || len(ifname) > maxIfNameLen || ifname == "." || ifname == ".." ||
		strings.ContainsAny(ifname, "/: \t\n") {
		return fmt.Errorf("interface name %q is invalid; accepted are 1 to %d characters without '/', ':' or white space", ifname, maxIfNameLen)
	}
	return nil
}

func checkFamily(fam int) error {
	if fam != 4 && fam != 6 {
		return fmt.Errorf("address family %d is invalid; accepted are 4 and 6", fam)
	}
	return nil
}

// familyOf returns 4 or 6.
func familyOf(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// familyName is used in log fields and messages.
func familyName(fam int) string {
	return "IPv" + strconv.Itoa(fam)
}

// isGlobal reports whether the address is one the node can be reached at
// from off the link: global scope and a global unicast address (private
// ranges included, link-local and loopback not).
func isGlobal(a ifAddr) bool {
	return a.scope == unix.RT_SCOPE_UNIVERSE && a.prefix.Addr().IsGlobalUnicast()
}

// normalize unmaps IPv4-mapped IPv6 addresses, so a VIP written either way
// compares equal to what the kernel reports.
func normalize(p netip.Prefix) netip.Prefix {
	a := p.Addr()
	if !a.Is4In6() {
		return p
	}
	bits := p.Bits() - 96
	if bits < 0 {
		bits = 0
	}
	return netip.PrefixFrom(a.Unmap(), bits)
}

// vipAddrs is the set of the VIPs' addresses, whatever their prefix length.
func vipAddrs(vips []netip.Prefix) map[netip.Addr]bool {
	set := make(map[netip.Addr]bool, len(vips))
	for _, v := range vips {
		if v.IsValid() {
			set[normalize(v).Addr()] = true
		}
	}
	return set
}

// tableName names a routing table as ip route does.
func tableName(t int) string {
	switch t {
	case unix.RT_TABLE_MAIN:
		return "main"
	case unix.RT_TABLE_DEFAULT:
		return "default"
	case unix.RT_TABLE_LOCAL:
		return "local"
	}
	return strconv.Itoa(t)
}
