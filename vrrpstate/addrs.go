package vrrpstate

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// KernelAddrs returns every address the kernel has configured, keyed by
// interface name, from one RTM_GETADDR netlink dump (no `ip` process, so it
// is cheap enough to run on every scrape). The prefix length is the one
// configured on the interface.
func KernelAddrs() (map[string][]netip.Prefix, error) {
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETADDR, syscall.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("netlink address dump: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return nil, fmt.Errorf("parse netlink address dump: %w", err)
	}
	names := map[int]string{}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	for _, i := range ifs {
		names[i.Index] = i.Name
	}
	return parseAddrMsgs(msgs, names)
}

// parseAddrMsgs turns RTM_NEWADDR messages into prefixes per interface name.
func parseAddrMsgs(msgs []syscall.NetlinkMessage, names map[int]string) (map[string][]netip.Prefix, error) {
	out := map[string][]netip.Prefix{}
	for _, m := range msgs {
		if m.Header.Type == syscall.NLMSG_DONE {
			break
		}
		if m.Header.Type != syscall.RTM_NEWADDR || len(m.Data) < syscall.SizeofIfAddrmsg {
			continue
		}
		ifa := (*syscall.IfAddrmsg)(unsafe.Pointer(&m.Data[0]))
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return nil, fmt.Errorf("parse netlink address attributes: %w", err)
		}
		var local, addr []byte
		for _, a := range attrs {
			switch a.Attr.Type {
			case syscall.IFA_LOCAL:
				local = a.Value
			case syscall.IFA_ADDRESS:
				addr = a.Value
			}
		}
		// IFA_LOCAL is the interface's own address; IFA_ADDRESS is the
		// peer on point-to-point links and equals it otherwise. IPv6
		// sends only IFA_ADDRESS.
		raw := local
		if raw == nil {
			raw = addr
		}
		ip, ok := netip.AddrFromSlice(raw)
		if !ok {
			continue
		}
		name := names[int(ifa.Index)]
		if name == "" {
			name = fmt.Sprintf("if%d", ifa.Index)
		}
		out[name] = append(out[name], netip.PrefixFrom(ip, int(ifa.Prefixlen)))
	}
	return out, nil
}

// Has reports whether prefixes contain addr, whatever the prefix length.
func Has(prefixes []netip.Prefix, addr netip.Addr) bool {
	for _, p := range prefixes {
		if p.Addr() == addr {
			return true
		}
	}
	return false
}
