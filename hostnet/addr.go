package hostnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
)

// maxIfNameLen is IFNAMSIZ-1, the kernel's limit on interface names.
const maxIfNameLen = 15

// checkIfName rejects names the kernel cannot have, so they are reported as
// bad input instead of as an obscure ip error.
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

// ipAddrShow is the part of "ip -j addr show" output this package reads.
type ipAddrShow struct {
	IfName   string `json:"ifname"`
	AddrInfo []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
	} `json:"addr_info"`
}

// Addresses returns every address on ifname, IPv4 and IPv6, in kernel order,
// as address/prefix-length pairs exactly as configured (host bits kept), from
// "ip -j addr show dev IFNAME".
func Addresses(ctx context.Context, r Runner, ifname string) ([]netip.Prefix, error) {
	if err := checkIfName(ifname); err != nil {
		return nil, err
	}
	out, err := r.Run(ctx, "ip", "-j", "addr", "show", "dev", ifname)
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", ifname, err)
	}
	prefixes, err := parseAddrShow(out, ifname)
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", ifname, err)
	}
	return prefixes, nil
}

func parseAddrShow(out []byte, ifname string) ([]netip.Prefix, error) {
	var links []ipAddrShow
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("parse ip -j output: %w", err)
	}
	var prefixes []netip.Prefix
	found := false
	for _, l := range links {
		if l.IfName != ifname {
			continue
		}
		found = true
		for _, a := range l.AddrInfo {
			if a.Local == "" {
				continue // no local address, e.g. an address-less family entry
			}
			addr, err := netip.ParseAddr(a.Local)
			if err != nil {
				return nil, fmt.Errorf("parse ip -j output: address %q: %w", a.Local, err)
			}
			p := netip.PrefixFrom(addr.Unmap(), a.PrefixLen)
			if !p.IsValid() {
				return nil, fmt.Errorf("parse ip -j output: prefix length %d is invalid for %s", a.PrefixLen, addr)
			}
			prefixes = append(prefixes, p)
		}
	}
	if !found {
		return nil, fmt.Errorf("ip -j output has no entry for %s", ifname)
	}
	return prefixes, nil
}

// RemoveAddresses deletes from ifname every address equal to one of vips.
// Only the address of each VIP matters: it is removed with whatever prefix
// length it actually has on the interface, because an earlier run, another
// tool or an administrator may have added it as /24 rather than /32.
//
// Each removal is logged. A failed removal does not stop the others; all
// failures are returned joined, together with what was removed.
func RemoveAddresses(ctx context.Context, r Runner, ifname string, vips []netip.Prefix, log *slog.Logger) ([]netip.Prefix, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	present, err := Addresses(ctx, r, ifname)
	if err != nil {
		return nil, fmt.Errorf("remove VIPs: %w", err)
	}
	var (
		removed []netip.Prefix
		errs    []error
		seen    = map[netip.Addr]bool{}
	)
	for _, vip := range vips {
		if !vip.IsValid() {
			errs = append(errs, fmt.Errorf("remove VIPs from %s: VIP %v is not a valid address", ifname, vip))
			continue
		}
		addr := vip.Addr().Unmap()
		if seen[addr] {
			continue
		}
		seen[addr] = true
		for _, p := range present {
			if p.Addr() != addr {
				continue
			}
			if _, err := r.Run(ctx, "ip", "addr", "del", p.String(), "dev", ifname); err != nil {
				errs = append(errs, fmt.Errorf("remove VIP %s from %s: %w", p, ifname, err))
				continue
			}
			removed = append(removed, p)
			log.Info("removed VIP", "vip", p.String(), "interface", ifname)
		}
	}
	return removed, errors.Join(errs...)
}

// PrimaryAddress returns the first global unicast address of family fam
// (4 or 6) on ifname, in kernel order. For IPv4 the kernel lists an
// interface's primary address before its secondaries, so a VIP that shares
// the node's subnet never comes first. Link-local and loopback addresses are
// skipped.
func PrimaryAddress(ifname string, fam int) (netip.Addr, error) {
	if err := checkIfName(ifname); err != nil {
		return netip.Addr{}, err
	}
	if err := checkFamily(fam); err != nil {
		return netip.Addr{}, err
	}
	iface, err := net.InterfaceByName(ifname)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %s: %w", ifname, err)
	}
	addrs, err := iface.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("addresses of %s: %w", ifname, err)
	}
	a, ok := firstGlobal(addrs, fam)
	if !ok {
		return netip.Addr{}, fmt.Errorf("interface %s has no global IPv%d address", ifname, fam)
	}
	return a, nil
}

// firstGlobal picks the first global unicast address of the family.
func firstGlobal(addrs []net.Addr, fam int) (netip.Addr, bool) {
	for _, a := range addrs {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		default:
			continue
		}
		addr, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		addr = addr.Unmap()
		if (fam == 4) != addr.Is4() || !addr.IsGlobalUnicast() {
			continue
		}
		return addr, true
	}
	return netip.Addr{}, false
}

// familyName is used in log fields and messages.
func familyName(fam int) string {
	return fmt.Sprintf("IPv%d", fam)
}
