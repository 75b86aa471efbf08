package vrrpstate

import "net/netip"

// Has reports whether prefixes contain addr, whatever the prefix length:
// a VIP counts as present however it was added.
func Has(prefixes []netip.Prefix, addr netip.Addr) bool {
	for _, p := range prefixes {
		if p.Addr() == addr {
			return true
		}
	}
	return false
}
