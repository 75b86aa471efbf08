package vrrpstate

import (
	"net/netip"
	"testing"
)

func TestHas(t *testing.T) {
	ps := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("192.0.2.100/32")}
	for addr, want := range map[string]bool{"127.0.0.1": true, "192.0.2.100": true, "192.0.2.101": false} {
		if got := Has(ps, netip.MustParseAddr(addr)); got != want {
			t.Errorf("Has(%s) = %v, want %v", addr, got, want)
		}
	}
}
