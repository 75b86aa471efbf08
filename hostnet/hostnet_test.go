package hostnet

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Test data builders. Addresses are global scope unless built with scoped.

func ga(s string, flags ...int) ifAddr {
	a := ifAddr{prefix: netip.MustParsePrefix(s), scope: unix.RT_SCOPE_UNIVERSE}
	for _, f := range flags {
		a.flags |= f
	}
	return a
}

func scoped(s string, scope int) ifAddr {
	return ifAddr{prefix: netip.MustParsePrefix(s), scope: scope}
}

func pfx(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func defRoute(table int, gw string, link, metric int) route {
	r := route{table: table, linkIndex: link, priority: metric, typ: unix.RTN_UNICAST}
	if gw != "" {
		r.gw = netip.MustParseAddr(gw)
	}
	if r.gw.Is6() {
		r.dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	} else {
		r.dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	return r
}

var (
	lo = iface{index: 1, name: "lo", up: true, loopback: true, addrs: []ifAddr{
		scoped("127.0.0.1/8", unix.RT_SCOPE_HOST), scoped("::1/128", unix.RT_SCOPE_HOST),
	}}
	eth0 = iface{index: 2, name: "eth0", up: true, addrs: []ifAddr{
		ga("192.0.2.10/24"), ga("2001:db8::10/64"), scoped("fe80::1/64", unix.RT_SCOPE_LINK),
	}}
	eth1 = iface{index: 3, name: "eth1", up: true, addrs: []ifAddr{
		ga("198.51.100.5/24"), ga("203.0.113.7/32"),
	}}
)

func TestChooseInterface(t *testing.T) {
	main4 := defRoute(unix.RT_TABLE_MAIN, "192.0.2.1", 2, 0)
	tests := []struct {
		name     string
		s        snapshot
		explicit string
		vips     []netip.Prefix
		want     string
		why      string
		wantErr  []string
	}{
		{
			name: "explicit wins over everything", explicit: "bond0.100",
			s:    snapshot{links: []iface{lo, eth0}, routes: []route{main4}},
			vips: pfx("192.0.2.100/32"), want: "bond0.100", why: "set by OPENSHIFT_HA_NETWORK_INTERFACE",
		},
		{
			name: "explicit name is checked", explicit: "eth0 eth1",
			wantErr: []string{"OPENSHIFT_HA_NETWORK_INTERFACE", `"eth0 eth1" is invalid`, "accepted are"},
		},
		{
			name: "connected subnet beats the default route",
			s:    snapshot{links: []iface{lo, eth0, eth1}, routes: []route{main4}},
			vips: pfx("198.51.100.100/32"), want: "eth1", why: "its connected subnet 198.51.100.0/24 holds VIP 198.51.100.100",
		},
		{
			name: "no default route: connected subnet",
			s:    snapshot{links: []iface{lo, eth0, eth1}},
			vips: pfx("192.0.2.100/32"), want: "eth0", why: "its connected subnet 192.0.2.0/24 holds VIP 192.0.2.100",
		},
		{
			name: "IPv6 connected subnet",
			s:    snapshot{links: []iface{lo, eth1, eth0}},
			vips: pfx("2001:db8::100/128"), want: "eth0", why: "its connected subnet 2001:db8::/64 holds VIP 2001:db8::100",
		},
		{
			name: "host-length address is no subnet",
			s:    snapshot{links: []iface{lo, eth0, eth1}, routes: []route{main4}},
			vips: pfx("203.0.113.50/32"), want: "eth0", why: "default route via 192.0.2.1 in table main",
		},
		{
			name: "an address equal to the VIP does not vote for itself",
			s: snapshot{links: []iface{lo, eth0, {index: 4, name: "eth2", addrs: []ifAddr{ga("192.0.2.100/24")}}},
				routes: []route{}},
			vips: pfx("192.0.2.100/32"), want: "eth0", why: "its connected subnet 192.0.2.0/24 holds VIP 192.0.2.100",
		},
		{
			name: "another VIP of the group does not vote either",
			s: snapshot{links: []iface{lo, eth0, {index: 4, name: "eth2", addrs: []ifAddr{ga("192.0.2.101/24")}}},
				routes: []route{}},
			vips: pfx("192.0.2.100/32", "192.0.2.101/32"), want: "eth0", why: "its connected subnet 192.0.2.0/24 holds VIP 192.0.2.100",
		},
		{
			name: "longest prefix wins",
			s:    snapshot{links: []iface{lo, eth0, {index: 4, name: "eth2", addrs: []ifAddr{ga("192.0.2.129/25")}}}},
			vips: pfx("192.0.2.200/32"), want: "eth2", why: "its connected subnet 192.0.2.128/25 holds VIP 192.0.2.200",
		},
		{
			name: "loopback subnets do not count",
			s: snapshot{links: []iface{{index: 1, name: "lo", loopback: true, addrs: []ifAddr{ga("198.51.100.1/24")}}, eth0},
				routes: []route{main4}},
			vips: pfx("198.51.100.100/32"), want: "eth0", why: "default route via 192.0.2.1 in table main",
		},
		{
			name: "routed VIP does not vote, subnet VIP decides",
			s:    snapshot{links: []iface{lo, eth0, eth1}, routes: []route{main4}},
			vips: pfx("203.0.113.99/32", "198.51.100.100/32"), want: "eth1", why: "its connected subnet 198.51.100.0/24 holds VIP 198.51.100.100",
		},
		{
			name:    "same subnet on two interfaces is ambiguous",
			s:       snapshot{links: []iface{lo, eth0, {index: 4, name: "eth2", addrs: []ifAddr{ga("192.0.2.11/24")}}}},
			vips:    pfx("192.0.2.100/32"),
			wantErr: []string{"several interfaces", "eth0 (192.0.2.0/24), eth2 (192.0.2.0/24)", "set OPENSHIFT_HA_NETWORK_INTERFACE"},
		},
		{
			name:    "group split over two interfaces",
			s:       snapshot{links: []iface{lo, eth0, eth1}},
			vips:    pfx("192.0.2.100/32", "198.51.100.100/32"),
			wantErr: []string{"different interfaces", "192.0.2.100 in eth0 (192.0.2.0/24)", "198.51.100.100 in eth1 (198.51.100.0/24)", "OPENSHIFT_HA_NETWORK_INTERFACE", "OPENSHIFT_HA_VIP_GROUPS"},
		},
		{
			name: "default route in a non-main table",
			s:    snapshot{links: []iface{lo, eth0, eth1}, routes: []route{defRoute(100, "198.51.100.1", 3, 0)}},
			vips: pfx("203.0.113.50/32"), want: "eth1", why: "default route via 198.51.100.1 in table 100",
		},
		{
			name: "main table preferred over a lower-numbered table",
			s:    snapshot{links: []iface{lo, eth0, eth1}, routes: []route{defRoute(100, "198.51.100.1", 3, 0), defRoute(unix.RT_TABLE_MAIN, "192.0.2.1", 2, 500)}},
			vips: pfx("203.0.113.50/32"), want: "eth0", why: "default route via 192.0.2.1 in table main",
		},
		{
			name: "lowest table number among non-main tables",
			s:    snapshot{links: []iface{lo, eth0, eth1}, routes: []route{defRoute(200, "192.0.2.1", 2, 0), defRoute(100, "198.51.100.1", 3, 0)}},
			vips: pfx("203.0.113.50/32"), want: "eth1", why: "default route via 198.51.100.1 in table 100",
		},
		{
			name: "lowest metric within a table",
			s:    snapshot{links: []iface{lo, eth0, eth1}, routes: []route{defRoute(unix.RT_TABLE_MAIN, "192.0.2.1", 2, 200), defRoute(unix.RT_TABLE_MAIN, "198.51.100.1", 3, 100)}},
			vips: pfx("203.0.113.50/32"), want: "eth1", why: "default route via 198.51.100.1 in table main",
		},
		{
			name: "default route without gateway",
			s:    snapshot{links: []iface{lo, eth0}, routes: []route{defRoute(unix.RT_TABLE_MAIN, "", 2, 0)}},
			vips: pfx("203.0.113.50/32"), want: "eth0", why: "default route without a gateway in table main",
		},
		{
			name: "default route of the VIP's family only",
			s:    snapshot{links: []iface{lo, eth0, eth1}, routes: []route{main4, defRoute(100, "2001:db8::1", 3, 0)}},
			vips: pfx("2001:db8:1::5/128"), want: "eth1", why: "default route via 2001:db8::1 in table 100",
		},
		{
			name: "unreachable, loopback and vanished-link defaults are ignored",
			s: snapshot{links: []iface{lo, eth0}, routes: []route{
				func() route { r := defRoute(unix.RT_TABLE_MAIN, "", 1, 0); r.typ = unix.RTN_UNREACHABLE; return r }(),
				defRoute(unix.RT_TABLE_MAIN, "192.0.2.1", 1, 0),
				defRoute(unix.RT_TABLE_MAIN, "192.0.2.1", 9, 0),
				defRoute(300, "192.0.2.1", 2, 0),
			}},
			vips: pfx("203.0.113.50/32"), want: "eth0", why: "default route via 192.0.2.1 in table 300",
		},
		{
			name: "no VIPs: IPv4 default, else IPv6",
			s:    snapshot{links: []iface{lo, eth0, eth1}, routes: []route{defRoute(unix.RT_TABLE_MAIN, "2001:db8::1", 3, 0)}},
			want: "eth1", why: "default route via 2001:db8::1 in table main",
		},
		{
			name:    "nothing to decide by",
			s:       snapshot{links: []iface{lo, eth0, eth1}, routes: []route{defRoute(unix.RT_TABLE_MAIN, "2001:db8::1", 3, 0)}},
			vips:    pfx("203.0.113.50/32"),
			wantErr: []string{"OPENSHIFT_HA_NETWORK_INTERFACE is unset", "holding VIP 203.0.113.50 of the first group", "no routing table has an IPv4 default route", "set OPENSHIFT_HA_NETWORK_INTERFACE", "OPENSHIFT_HA_VIRTUAL_IPS"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name, why, err := chooseInterface(tc.s, tc.explicit, tc.vips)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("chooseInterface = %q (%s), want an error", name, why)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				return
			}
			if err != nil || name != tc.want || why != tc.why {
				t.Fatalf("chooseInterface = %q, %q, %v; want %q, %q", name, why, err, tc.want, tc.why)
			}
		})
	}
}

func TestNodeAddress(t *testing.T) {
	tests := []struct {
		name    string
		addrs   []ifAddr
		fam     int
		vips    []netip.Prefix
		want    string
		wantErr string
	}{
		{name: "first global IPv4", addrs: eth0.addrs, fam: 4, want: "192.0.2.10"},
		{name: "first global IPv6, link-local skipped", addrs: []ifAddr{scoped("fe80::1/64", unix.RT_SCOPE_LINK), ga("2001:db8::10/64")}, fam: 6, want: "2001:db8::10"},
		{
			name:  "a VIP listed first is skipped whatever its prefix length",
			addrs: []ifAddr{ga("192.0.2.100/24"), ga("192.0.2.10/24", unix.IFA_F_SECONDARY)},
			fam:   4, vips: pfx("192.0.2.100/32"), want: "192.0.2.10",
		},
		{
			name:  "secondary counts when it is the first non-VIP",
			addrs: []ifAddr{ga("192.0.2.50/32"), ga("192.0.2.10/24", unix.IFA_F_SECONDARY)},
			fam:   4, vips: pfx("192.0.2.50/32"), want: "192.0.2.10",
		},
		{
			name: "IPv6 tentative, failed and deprecated are skipped",
			addrs: []ifAddr{
				ga("2001:db8::1/64", unix.IFA_F_TENTATIVE), ga("2001:db8::2/64", unix.IFA_F_DADFAILED|unix.IFA_F_TENTATIVE),
				ga("2001:db8::3/64", unix.IFA_F_DEPRECATED), ga("2001:db8::4/64", unix.IFA_F_NODAD|unix.IFA_F_PERMANENT),
			},
			fam: 6, want: "2001:db8::4",
		},
		{
			name:  "host and link scope are not the node's address",
			addrs: []ifAddr{scoped("192.0.2.1/24", unix.RT_SCOPE_HOST), scoped("192.0.2.2/24", unix.RT_SCOPE_LINK), scoped("169.254.1.1/16", unix.RT_SCOPE_LINK)},
			fam:   4, wantErr: "interface eth0 has no global IPv4 address",
		},
		{name: "wrong family", addrs: []ifAddr{ga("192.0.2.10/24")}, fam: 6, wantErr: "no global IPv6 address"},
		{
			name:  "only VIPs and tentative: error says why",
			addrs: []ifAddr{ga("2001:db8::50/128"), ga("2001:db8::10/64", unix.IFA_F_TENTATIVE)},
			fam:   6, vips: pfx("2001:db8::50/128"),
			wantErr: "no usable global IPv6 address: 2001:db8::50 is a VIP, 2001:db8::10 is tentative",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := nodeAddress(iface{name: "eth0", addrs: tc.addrs}, tc.fam, tc.vips)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("nodeAddress = %v, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("nodeAddress = %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestPlanRemoval(t *testing.T) {
	sec := unix.IFA_F_SECONDARY
	tests := []struct {
		name       string
		addrs      []ifAddr
		vips       []netip.Prefix
		wantRemove []netip.Prefix
		wantKeep   []string // substrings of the reasons, one per kept address
	}{
		{
			name:       "exact matches only",
			addrs:      []ifAddr{ga("192.0.2.10/24"), ga("192.0.2.50/32"), ga("198.51.100.5/24"), ga("2001:db8::50/128"), ga("2001:db8::10/64")},
			vips:       pfx("192.0.2.50/32", "198.51.100.5/32", "2001:db8::50/128", "203.0.113.9/32"),
			wantRemove: pfx("192.0.2.50/32", "2001:db8::50/128"),
		},
		{
			name:       "secondaries before primaries, duplicates once",
			addrs:      []ifAddr{ga("192.0.2.10/24"), ga("203.0.113.5/32"), ga("192.0.2.100/24", sec)},
			vips:       pfx("203.0.113.5/32", "192.0.2.100/24", "192.0.2.100/24"),
			wantRemove: pfx("192.0.2.100/24", "203.0.113.5/32"),
		},
		{
			name:       "IPv4-mapped VIP",
			addrs:      []ifAddr{ga("192.0.2.10/24"), ga("192.0.2.50/32")},
			vips:       pfx("::ffff:192.0.2.50/128"),
			wantRemove: pfx("192.0.2.50/32"),
		},
		{
			name:     "the interface's only global address of its family is the node's",
			addrs:    []ifAddr{ga("192.0.2.10/32"), ga("2001:db8::10/64"), scoped("fe80::1/64", unix.RT_SCOPE_LINK)},
			vips:     pfx("192.0.2.10/32"),
			wantKeep: []string{"no other global IPv4 address, so it is the node's own"},
		},
		{
			name:     "all global addresses of a family are VIPs",
			addrs:    []ifAddr{ga("2001:db8::10/64"), ga("2001:db8::11/64"), scoped("fe80::1/64", unix.RT_SCOPE_LINK)},
			vips:     pfx("2001:db8::10/64", "2001:db8::11/64"),
			wantKeep: []string{"global IPv6", "global IPv6"},
		},
		{
			name:     "a primary VIP with the node's secondary behind it",
			addrs:    []ifAddr{ga("198.51.100.20/24"), ga("192.0.2.100/24"), ga("192.0.2.10/24", sec)},
			vips:     pfx("192.0.2.100/24"),
			wantKeep: []string{"primary address of 192.0.2.0/24 and deleting it would delete the node's secondary address 192.0.2.10/24"},
		},
		{
			name:       "a primary VIP with only VIP secondaries behind it",
			addrs:      []ifAddr{ga("198.51.100.20/24"), ga("192.0.2.100/24"), ga("192.0.2.101/24", sec)},
			vips:       pfx("192.0.2.100/24", "192.0.2.101/24"),
			wantRemove: pfx("192.0.2.101/24", "192.0.2.100/24"),
		},
		{name: "invalid VIP ignored", addrs: []ifAddr{ga("192.0.2.10/24")}, vips: []netip.Prefix{{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := planRemoval(iface{name: "eth0", addrs: tc.addrs}, tc.vips)
			if !slices.Equal(r.remove, tc.wantRemove) {
				t.Errorf("remove = %v, want %v", r.remove, tc.wantRemove)
			}
			if len(r.keep) != len(tc.wantKeep) {
				t.Fatalf("keep = %+v, want %d", r.keep, len(tc.wantKeep))
			}
			for i, k := range r.keep {
				if !strings.Contains(k.reason, tc.wantKeep[i]) {
					t.Errorf("keep[%d] = %s: %q, want it to contain %q", i, k.prefix, k.reason, tc.wantKeep[i])
				}
			}
		})
	}
}

func TestAddressConflicts(t *testing.T) {
	eth0Stale := iface{index: 2, name: "eth0", addrs: append(slices.Clone(eth0.addrs), ga("192.0.2.100/32"), ga("192.0.2.101/24", unix.IFA_F_SECONDARY))}
	tests := []struct {
		name   string
		links  []iface
		ifname string
		vips   []netip.Prefix
		want   []netip.Addr
	}{
		{name: "none", links: []iface{lo, eth0, eth1}, ifname: "eth0", vips: pfx("192.0.2.100/32", "2001:db8::100/128")},
		{name: "VIP is the node address", links: []iface{lo, eth0, eth1}, ifname: "eth0", vips: pfx("192.0.2.10/32", "192.0.2.100/32"), want: addrs("192.0.2.10")},
		{name: "on another interface", links: []iface{lo, eth0, eth1}, ifname: "eth0", vips: pfx("198.51.100.5/32", "203.0.113.7/32"), want: addrs("198.51.100.5", "203.0.113.7")},
		{name: "on loopback", links: []iface{lo, eth0}, ifname: "eth0", vips: pfx("127.0.0.1/32", "::1/128"), want: addrs("127.0.0.1", "::1")},
		{name: "stale VIPs of ours are not conflicts", links: []iface{lo, eth0Stale}, ifname: "eth0", vips: pfx("192.0.2.100/32", "192.0.2.101/24")},
		{name: "stale-looking address on another interface is", links: []iface{lo, eth0Stale}, ifname: "eth1", vips: pfx("192.0.2.100/32"), want: addrs("192.0.2.100")},
		{name: "other prefix length is", links: []iface{lo, eth0Stale}, ifname: "eth0", vips: pfx("192.0.2.100/24"), want: addrs("192.0.2.100")},
		{
			name:   "exact match that is the node's only address is",
			links:  []iface{lo, {index: 5, name: "ens4", addrs: []ifAddr{ga("192.0.2.10/32")}}},
			ifname: "ens4", vips: pfx("192.0.2.10/32"), want: addrs("192.0.2.10"),
		},
		{name: "each address once, mapped form unmapped", links: []iface{lo, eth0}, ifname: "eth0", vips: pfx("192.0.2.10/32", "::ffff:192.0.2.10/128"), want: addrs("192.0.2.10")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := addressConflicts(snapshot{links: tc.links}, tc.ifname, tc.vips)
			if !slices.Equal(got, tc.want) {
				t.Errorf("addressConflicts = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRouteOf(t *testing.T) {
	_, dst, _ := net.ParseCIDR("198.51.100.0/24")
	tests := []struct {
		name string
		r    netlink.Route
		fam  int
		want route
	}{
		{
			name: "IPv4 default as the library reports it",
			r:    netlink.Route{Dst: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}, Gw: net.ParseIP("192.0.2.1"), LinkIndex: 2, Table: 254, Priority: 100, Type: unix.RTN_UNICAST},
			fam:  netlink.FAMILY_V4,
			want: route{table: 254, dst: netip.MustParsePrefix("0.0.0.0/0"), gw: netip.MustParseAddr("192.0.2.1"), linkIndex: 2, priority: 100, typ: unix.RTN_UNICAST},
		},
		{
			name: "nil Dst is a default route",
			r:    netlink.Route{LinkIndex: 3, Table: 100, Type: unix.RTN_UNICAST},
			fam:  netlink.FAMILY_V6,
			want: route{table: 100, dst: netip.MustParsePrefix("::/0"), linkIndex: 3, typ: unix.RTN_UNICAST},
		},
		{
			name: "multipath takes the first next hop",
			r: netlink.Route{Table: 254, Type: unix.RTN_UNICAST, MultiPath: []*netlink.NexthopInfo{
				{LinkIndex: 4, Gw: net.ParseIP("2001:db8::1")}, {LinkIndex: 5, Gw: net.ParseIP("2001:db8::2")},
			}},
			fam:  netlink.FAMILY_V6,
			want: route{table: 254, dst: netip.MustParsePrefix("::/0"), gw: netip.MustParseAddr("2001:db8::1"), linkIndex: 4, typ: unix.RTN_UNICAST},
		},
		{
			name: "subnet route",
			r:    netlink.Route{Dst: dst, LinkIndex: 2, Table: 254, Type: unix.RTN_UNICAST},
			fam:  netlink.FAMILY_V4,
			want: route{table: 254, dst: netip.MustParsePrefix("198.51.100.0/24"), linkIndex: 2, typ: unix.RTN_UNICAST},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := routeOf(tc.r, tc.fam); got != tc.want {
				t.Errorf("routeOf = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestIfAddrOf(t *testing.T) {
	a, ok := ifAddrOf(netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("192.0.2.10"), Mask: net.CIDRMask(24, 32)}, Flags: unix.IFA_F_SECONDARY})
	if !ok || a.prefix != netip.MustParsePrefix("192.0.2.10/24") || a.flags != unix.IFA_F_SECONDARY {
		t.Errorf("ifAddrOf = %+v, %v", a, ok)
	}
	if _, ok := ifAddrOf(netlink.Addr{}); ok {
		t.Error("ifAddrOf accepted an address without IPNet")
	}
}

func TestDump(t *testing.T) {
	calls := 0
	flaky := func() ([]int, error) {
		calls++
		if calls < 3 {
			return []int{-1}, netlink.ErrDumpInterrupted
		}
		return []int{1, 2}, nil
	}
	if got, err := dump("list", flaky); err != nil || !slices.Equal(got, []int{1, 2}) || calls != 3 {
		t.Errorf("dump = %v, %v after %d calls; want [1 2] after 3", got, err, calls)
	}
	_, err := dump("list routes", func() ([]int, error) { return nil, netlink.ErrDumpInterrupted })
	if !errors.Is(err, netlink.ErrDumpInterrupted) || !strings.Contains(err.Error(), "list routes") {
		t.Errorf("always interrupted: %v", err)
	}
	boom := errors.New("boom")
	calls = 0
	_, err = dump("list", func() ([]int, error) { calls++; return nil, boom })
	if !errors.Is(err, boom) || calls != 1 {
		t.Errorf("other error: %v after %d calls; want boom at once", err, calls)
	}
}

func TestCheckIfName(t *testing.T) {
	for _, ok := range []string{"eth0", "bond0.100", "enp0s31f6", "abcdefghijklmno"} {
		if err := checkIfName(ok); err != nil {
			t.Errorf("checkIfName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "eth0:1", "eth 0", "abcdefghijklmnop"} {
		if err := checkIfName(bad); err == nil || !strings.Contains(err.Error(), "accepted are") {
			t.Errorf("checkIfName(%q) = %v; want an error saying what is accepted", bad, err)
		}
	}
}

// These read the test process's own namespace; they need no privilege and
// change nothing.

func TestNodeAddressInputErrors(t *testing.T) {
	n, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.NodeAddress("lo", 5, nil); err == nil || !strings.Contains(err.Error(), "accepted are 4 and 6") {
		t.Errorf("family 5: %v", err)
	}
	if _, err := n.NodeAddress("", 4, nil); err == nil || !strings.Contains(err.Error(), "interface name") {
		t.Errorf("empty name: %v", err)
	}
	// Loopback exists everywhere but has no global address.
	if _, err := n.NodeAddress("lo", 4, nil); err == nil || !strings.Contains(err.Error(), "no global IPv4 address") {
		t.Errorf("lo: %v", err)
	}
	if _, err := n.Addresses("ipf-nonexist0"); err == nil || !strings.Contains(err.Error(), "interface ipf-nonexist0 does not exist") {
		t.Errorf("missing interface: %v", err)
	}
	all, err := n.AllAddresses()
	if err != nil || !slices.Contains(all["lo"], netip.MustParsePrefix("127.0.0.1/8")) {
		t.Errorf("AllAddresses = %v, %v; want lo with 127.0.0.1/8", all, err)
	}
}

func TestWaitForInterfaceTimeout(t *testing.T) {
	n, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = n.WaitForInterface(ctx, "ipf-nonexist0", 4, nil, time.Millisecond, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "interface ipf-nonexist0 does not exist") {
		t.Fatalf("err = %v; want deadline exceeded naming the missing interface", err)
	}
}

// fakeClock advances by step on every reading, so log throttling is
// exercised without real waiting.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time { c.t = c.t.Add(c.step); return c.t }

type lookupStep struct {
	l   iface
	err error
}

func scriptedLookup(steps []lookupStep) (func(string) (iface, error), *int) {
	calls := 0
	return func(name string) (iface, error) {
		s := steps[min(calls, len(steps)-1)]
		calls++
		s.l.name = name
		return s.l, s.err
	}, &calls
}

func TestWaitForInterface(t *testing.T) {
	v4 := []ifAddr{scoped("fe80::1/64", unix.RT_SCOPE_LINK), ga("192.0.2.50/32"), ga("192.0.2.10/24")}
	steps := []lookupStep{
		{err: errNoSuchInterface},
		{err: errNoSuchInterface},
		{l: iface{addrs: v4}},
		{l: iface{up: true}},
		{l: iface{up: true, addrs: v4[:2]}},
		{l: iface{up: true, addrs: v4}},
	}
	lookup, calls := scriptedLookup(steps)
	var logBuf bytes.Buffer
	w := waiter{lookup: lookup, now: (&fakeClock{step: time.Second}).now, logEvery: 10 * time.Second}
	addr, err := w.wait(context.Background(), "eth0", 4, pfx("192.0.2.50/32"), time.Millisecond, slog.New(slog.NewTextHandler(&logBuf, nil)))
	if err != nil || addr != netip.MustParseAddr("192.0.2.10") {
		t.Fatalf("wait = %v, %v; want 192.0.2.10", addr, err)
	}
	if *calls != len(steps) {
		t.Errorf("lookups = %d, want %d", *calls, len(steps))
	}
	logs := logBuf.String()
	for _, want := range []string{
		`missing="interface eth0 does not exist"`,
		`missing="interface eth0 is down"`,
		`missing="interface eth0 has no global IPv4 address"`,
		`missing="interface eth0 has no usable global IPv4 address: 192.0.2.50 is a VIP"`,
		`msg="interface ready" interface=eth0 family=IPv4 address=192.0.2.10`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	// "does not exist" was seen twice in a row but logged once.
	if n := strings.Count(logs, "does not exist"); n != 1 {
		t.Errorf("'does not exist' logged %d times, want 1:\n%s", n, logs)
	}
}

func TestWaitForInterfaceImmediate(t *testing.T) {
	lookup, _ := scriptedLookup([]lookupStep{{l: iface{up: true, addrs: []ifAddr{ga("2001:db8::10/64")}}}})
	var logBuf bytes.Buffer
	w := waiter{lookup: lookup, now: time.Now, logEvery: time.Hour}
	addr, err := w.wait(context.Background(), "eth0", 6, nil, 0, slog.New(slog.NewTextHandler(&logBuf, nil)))
	if err != nil || addr.String() != "2001:db8::10" {
		t.Fatalf("wait = %v, %v", addr, err)
	}
	if logBuf.Len() != 0 {
		t.Errorf("ready at once should log nothing, got:\n%s", logBuf.String())
	}
}

func TestWaitForInterfaceInputErrors(t *testing.T) {
	lookup, calls := scriptedLookup([]lookupStep{{}})
	w := waiter{lookup: lookup, now: time.Now, logEvery: time.Hour}
	if _, err := w.wait(context.Background(), "eth0", 5, nil, 0, nil); err == nil || !strings.Contains(err.Error(), "accepted are 4 and 6") {
		t.Errorf("family 5: %v", err)
	}
	if _, err := w.wait(context.Background(), "a/b", 4, nil, 0, nil); err == nil || !strings.Contains(err.Error(), "interface name") {
		t.Errorf("bad name: %v", err)
	}
	if *calls != 0 {
		t.Errorf("looked up %d times on bad input", *calls)
	}
}

func TestWaitForInterfaceRepeatsLog(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lookup, calls := scriptedLookup([]lookupStep{{l: iface{up: true}}})
	var logBuf bytes.Buffer
	// Each clock reading advances 3s; logs are due every 10s.
	clock := &fakeClock{step: 3 * time.Second}
	w := waiter{
		lookup: func(n string) (iface, error) {
			if *calls >= 12 {
				cancel()
			}
			return lookup(n)
		},
		now:      clock.now,
		logEvery: 10 * time.Second,
	}
	_, err := w.wait(ctx, "eth0", 4, nil, time.Millisecond, slog.New(slog.NewTextHandler(&logBuf, nil)))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interface eth0 has no global IPv4 address") {
		t.Fatalf("err = %v; want context.Canceled naming what was missing", err)
	}
	// 13 checks, one clock reading each after the start: log at 3s, 15s, 27s, 39s.
	if n := strings.Count(logBuf.String(), `msg="waiting for interface"`); n < 3 || n > 5 {
		t.Errorf("logged %d times over ~39s of fake time, want about 4:\n%s", n, logBuf.String())
	}
}
