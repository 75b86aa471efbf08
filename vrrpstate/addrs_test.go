package vrrpstate

import (
	"net/netip"
	"testing"
)

func TestKernelAddrsLoopback(t *testing.T) {
	got, err := KernelAddrs()
	if err != nil {
		t.Fatal(err)
	}
	if !Has(got["lo"], netip.MustParseAddr("127.0.0.1")) {
		t.Fatalf("lo addresses %v lack 127.0.0.1 (all: %v)", got["lo"], got)
	}
	for _, p := range got["lo"] {
		if p.Addr() == netip.MustParseAddr("127.0.0.1") && p.Bits() != 8 {
			t.Errorf("127.0.0.1 has prefix %v, want /8", p)
		}
	}
}
