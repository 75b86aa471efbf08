package vrrpstate

import (
	"fmt"
	"net/netip"

	"github.com/ipfailover/ipfailover/hostnet"
)

// KernelAddrs returns every address the kernel has configured, keyed by
// interface name, with the prefix length configured on the interface. It
// reads them over netlink through package hostnet, the one place that talks
// to the kernel's network, in one dump and without an ip process, so it is
// cheap enough to run on every scrape.
func KernelAddrs() (map[string][]netip.Prefix, error) {
	n, err := hostnet.New()
	if err != nil {
		return nil, fmt.Errorf("read kernel addresses: %w", err)
	}
	defer n.Close()
	addrs, err := n.AllAddresses()
	if err != nil {
		return nil, fmt.Errorf("read kernel addresses: %w", err)
	}
	return addrs, nil
}

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
