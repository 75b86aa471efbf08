package hostnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Addresses returns every address on ifname, IPv4 and IPv6, in kernel order,
// with the prefix length each was configured with (host bits kept).
func (n *Net) Addresses(ifname string) ([]netip.Prefix, error) {
	l, err := n.readLink(ifname)
	if err != nil {
		return nil, err
	}
	return prefixesOf(l.addrs), nil
}

// AllAddresses returns every address on the node keyed by interface name,
// each as configured (address and prefix length), from one netlink dump.
// It is cheap enough to call on every metrics scrape.
func (n *Net) AllAddresses() (map[string][]netip.Prefix, error) {
	s, err := n.read(false)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]netip.Prefix, len(s.links))
	for _, l := range s.links {
		if len(l.addrs) > 0 {
			out[l.name] = prefixesOf(l.addrs)
		}
	}
	return out, nil
}

func prefixesOf(addrs []ifAddr) []netip.Prefix {
	out := make([]netip.Prefix, len(addrs))
	for i, a := range addrs {
		out[i] = a.prefix
	}
	return out
}

// NodeAddress returns the node's own address of family fam (4 or 6) on
// ifname: the first global unicast address, in kernel order, that is not
// one of vips and that the kernel would use as a source address (IPv6 that
// is tentative, failed duplicate address detection or is deprecated is
// skipped). VIPs are compared by address only: a VIP that a crashed run
// left on the interface, with whatever prefix length, must never be taken
// for the node's address, which keepalived uses as the advert source and
// placement derives priorities from.
func (n *Net) NodeAddress(ifname string, fam int, vips []netip.Prefix) (netip.Addr, error) {
	if err := checkFamily(fam); err != nil {
		return netip.Addr{}, err
	}
	l, err := n.readLink(ifname)
	if err != nil {
		return netip.Addr{}, err
	}
	return nodeAddress(l, fam, vips)
}

// nodeAddress is NodeAddress over data. The error says what was skipped, so
// an operator sees why e.g. a tentative IPv6 address does not count yet.
func nodeAddress(l iface, fam int, vips []netip.Prefix) (netip.Addr, error) {
	isVIP := vipAddrs(vips)
	var skipped []string
	for _, a := range l.addrs {
		ip := a.prefix.Addr()
		if familyOf(ip) != fam || !isGlobal(a) {
			continue
		}
		switch {
		case isVIP[ip]:
			skipped = append(skipped, ip.String()+" is a VIP")
		case a.flags&unix.IFA_F_DADFAILED != 0:
			skipped = append(skipped, ip.String()+" failed duplicate address detection")
		case a.flags&unix.IFA_F_TENTATIVE != 0:
			skipped = append(skipped, ip.String()+" is tentative (duplicate address detection is running)")
		case a.flags&unix.IFA_F_DEPRECATED != 0:
			skipped = append(skipped, ip.String()+" is deprecated")
		default:
			return ip, nil
		}
	}
	if len(skipped) == 0 {
		return netip.Addr{}, fmt.Errorf("interface %s has no global %s address", l.name, familyName(fam))
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no usable global %s address: %s", l.name, familyName(fam), strings.Join(skipped, ", "))
}

// RemoveAddresses deletes from ifname the addresses a previous run left
// behind: an address is removed only when it equals one of vips exactly,
// address and prefix length, because that is how keepalived adds a VIP. The
// same address with another prefix length was put there by someone else and
// stays (AddressConflicts reports it).
//
// Two exact matches are kept, and reported in the returned error, because
// removing them would take the node's own addressing away: an address that
// is the interface's last one of its family and kind (global or not), which
// can then only be the node's address listed as a VIP by mistake; and an
// IPv4 primary address whose subnet has secondary addresses that are not
// VIPs, which the kernel deletes along with the primary unless
// promote_secondaries is set.
//
// Each removal is logged. A failed removal does not stop the others; all
// failures are returned joined, together with what was removed.
func (n *Net) RemoveAddresses(ifname string, vips []netip.Prefix, log *slog.Logger) ([]netip.Prefix, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	for _, v := range vips {
		if !v.IsValid() {
			errs = append(errs, fmt.Errorf("remove VIPs from %s: VIP %v is not a valid address", ifname, v))
		}
	}
	link, l, err := n.readLinkRaw(ifname)
	if err != nil {
		return nil, fmt.Errorf("remove VIPs: %w", err)
	}
	plan := planRemoval(l, vips)
	for _, k := range plan.keep {
		errs = append(errs, fmt.Errorf("not removing %s from %s although it equals a VIP: %s; remove it from OPENSHIFT_HA_VIRTUAL_IPS", k.prefix, ifname, k.reason))
	}
	var removed []netip.Prefix
	for _, p := range plan.remove {
		if err := n.delAddr(link, p); err != nil {
			errs = append(errs, fmt.Errorf("remove VIP %s from %s: %w", p, ifname, err))
			continue
		}
		removed = append(removed, p)
		log.Info("removed VIP", "vip", p.String(), "interface", ifname)
	}
	return removed, errors.Join(errs...)
}

// removal is RemoveAddresses' decision for one interface.
type removal struct {
	remove []netip.Prefix // in deletion order: IPv4 secondaries before primaries
	keep   []kept
}

type kept struct {
	prefix netip.Prefix
	reason string
}

// planRemoval decides which of the interface's addresses are stale VIPs.
func planRemoval(l iface, vips []netip.Prefix) removal {
	isVIP := make(map[netip.Prefix]bool, len(vips))
	for _, v := range vips {
		if v.IsValid() {
			isVIP[normalize(v)] = true
		}
	}
	// own counts, per family and kind, the addresses that are not exact
	// VIPs: with none left the node would lose its addressing.
	type class struct {
		fam    int
		global bool
	}
	own := map[class]int{}
	for _, a := range l.addrs {
		if !isVIP[a.prefix] {
			own[class{familyOf(a.prefix.Addr()), isGlobal(a)}]++
		}
	}
	var (
		r                      removal
		secondaries, primaries []netip.Prefix
		seen                   = map[netip.Prefix]bool{}
	)
	for _, a := range l.addrs {
		if !isVIP[a.prefix] || seen[a.prefix] {
			continue
		}
		seen[a.prefix] = true
		c := class{familyOf(a.prefix.Addr()), isGlobal(a)}
		kind := "global"
		if !c.global {
			kind = "non-global"
		}
		if own[c] == 0 {
			r.keep = append(r.keep, kept{a.prefix, fmt.Sprintf("the interface has no other %s %s address, so it is the node's own", kind, familyName(c.fam))})
			continue
		}
		if a.prefix.Addr().Is4() && a.flags&unix.IFA_F_SECONDARY == 0 {
			if s, ok := ownSecondary(l, a.prefix, isVIP); ok {
				r.keep = append(r.keep, kept{a.prefix, fmt.Sprintf("it is the primary address of %s and deleting it would delete the node's secondary address %s too", a.prefix.Masked(), s)})
				continue
			}
		}
		if a.flags&unix.IFA_F_SECONDARY != 0 {
			secondaries = append(secondaries, a.prefix)
		} else {
			primaries = append(primaries, a.prefix)
		}
	}
	r.remove = append(secondaries, primaries...)
	return r
}

// ownSecondary finds a secondary IPv4 address in primary's subnet that is
// not a VIP.
func ownSecondary(l iface, primary netip.Prefix, isVIP map[netip.Prefix]bool) (netip.Prefix, bool) {
	for _, a := range l.addrs {
		if a.flags&unix.IFA_F_SECONDARY != 0 && !isVIP[a.prefix] &&
			a.prefix.Bits() == primary.Bits() && a.prefix.Masked() == primary.Masked() {
			return a.prefix, true
		}
	}
	return netip.Prefix{}, false
}

// AddressConflicts returns the VIP addresses, in the order of vips, that are
// already configured on any interface of the node (loopback included):
// keepalived would then add an address the node already answers for, and
// releasing the VIP would take the node's address away. The caller rejects
// such a configuration before changing anything.
//
// An address on ifname, the interface that will carry the VIPs, that equals
// a VIP exactly is not a conflict: it is what a previous run of keepalived
// left behind and RemoveAddresses takes away, unless RemoveAddresses would
// keep it as the node's own address, in which case it is a conflict.
func (n *Net) AddressConflicts(ifname string, vips []netip.Prefix) ([]netip.Addr, error) {
	s, err := n.read(false)
	if err != nil {
		return nil, fmt.Errorf("check VIPs against the node's addresses: %w", err)
	}
	return addressConflicts(s, ifname, vips), nil
}

func addressConflicts(s snapshot, ifname string, vips []netip.Prefix) []netip.Addr {
	var stale []netip.Prefix
	if l, ok := s.byName(ifname); ok {
		stale = planRemoval(l, vips).remove
	}
	var out []netip.Addr
	for _, v := range vips {
		if !v.IsValid() {
			continue
		}
		addr := normalize(v).Addr()
		if slices.Contains(out, addr) {
			continue
		}
	links:
		for _, l := range s.links {
			for _, a := range l.addrs {
				if a.prefix.Addr() != addr || (l.name == ifname && slices.Contains(stale, a.prefix)) {
					continue
				}
				out = append(out, addr)
				break links
			}
		}
	}
	return out
}
