package wire

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestDecodeIP(t *testing.T) {
	auth := v2(51, 100, "192.0.2.100")
	auth.AuthType, auth.Auth = 1, [8]byte{'s', 'e', 'c', 'r', 'e', 't'}
	fast := v3(52, 150, "192.0.2.101", "192.0.2.102")
	fast.Interval = 100 * time.Millisecond
	routed := v3(53, 100, "192.0.2.103")
	routed.TTL = 64
	bad := v3six(54, 100, "2001:db8::54")
	bad.BadChecksum = true
	max3 := v3(55, 1, "192.0.2.104")
	max3.Interval = 40950 * time.Millisecond
	none := v3(56, 100)
	destOpts := v3six(57, 100, "2001:db8::57")
	// A destination options header with one PadN option filling 8 bytes,
	// chained to VRRP.
	destOpts.IPv6ExtNext, destOpts.IPv6Ext = 60, []byte{ProtocolVRRP, 0, 1, 4, 0, 0, 0, 0}

	// RFC 3768 is IPv4 only, but old keepalived versions sent VRRPv2 over
	// IPv6 all the same: VRRPv2 layout with 16-byte addresses.
	oldSix := v3six(58, 100, "2001:db8::58")
	oldSix.Version = 2

	cases := []struct {
		name string
		p    packet
		want Advert
	}{
		{"v2 no auth", v2(51, 100, "192.0.2.100"), Advert{Version: 2, VRID: 51, Priority: 100, Interval: time.Second,
			Family: IPv4, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("224.0.0.18"),
			VIPs: addrs("192.0.2.100"), TTL: 255, ChecksumOK: true}},
		{"v2 password", auth, Advert{Version: 2, VRID: 51, Priority: 100, AuthType: 1, Interval: time.Second,
			Family: IPv4, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("224.0.0.18"),
			VIPs: addrs("192.0.2.100"), TTL: 255, ChecksumOK: true}},
		{"v3 ipv4 centiseconds", fast, Advert{Version: 3, VRID: 52, Priority: 150, Interval: 100 * time.Millisecond,
			Family: IPv4, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("224.0.0.18"),
			VIPs: addrs("192.0.2.101", "192.0.2.102"), TTL: 255, ChecksumOK: true}},
		{"v3 routed ttl", routed, Advert{Version: 3, VRID: 53, Priority: 100, Interval: time.Second,
			Family: IPv4, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("224.0.0.18"),
			VIPs: addrs("192.0.2.103"), TTL: 64, ChecksumOK: true}},
		{"v3 ipv6 bad checksum", bad, Advert{Version: 3, VRID: 54, Priority: 100, Interval: time.Second,
			Family: IPv6, Src: netip.MustParseAddr("fe80::1"), Dst: netip.MustParseAddr("ff02::12"),
			VIPs: addrs("2001:db8::54"), TTL: 255, ChecksumOK: false}},
		{"v3 longest interval", max3, Advert{Version: 3, VRID: 55, Priority: 1, Interval: 40950 * time.Millisecond,
			Family: IPv4, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("224.0.0.18"),
			VIPs: addrs("192.0.2.104"), TTL: 255, ChecksumOK: true}},
		{"v3 no addresses", none, Advert{Version: 3, VRID: 56, Priority: 100, Interval: time.Second,
			Family: IPv4, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("224.0.0.18"),
			VIPs: []netip.Addr{}, TTL: 255, ChecksumOK: true}},
		{"v3 ipv6 destination options", destOpts, Advert{Version: 3, VRID: 57, Priority: 100, Interval: time.Second,
			Family: IPv6, Src: netip.MustParseAddr("fe80::1"), Dst: netip.MustParseAddr("ff02::12"),
			VIPs: addrs("2001:db8::57"), TTL: 255, ChecksumOK: true}},
		{"v2 over ipv6", oldSix, Advert{Version: 2, VRID: 58, Priority: 100, Interval: time.Second,
			Family: IPv6, Src: netip.MustParseAddr("fe80::1"), Dst: netip.MustParseAddr("ff02::12"),
			VIPs: addrs("2001:db8::58"), TTL: 255, ChecksumOK: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, via := range []struct {
				name string
				dec  func([]byte, *Advert) error
				b    []byte
			}{{"ip", DecodeIP, c.p.ip()}, {"ethernet", DecodeEthernet, c.p.ethernet()}} {
				var got Advert
				if err := via.dec(via.b, &got); err != nil {
					t.Fatalf("%s: %v", via.name, err)
				}
				if !advertEqual(got, c.want) {
					t.Errorf("%s:\n got %+v\nwant %+v", via.name, got, c.want)
				}
			}
		})
	}
}

func advertEqual(a, b Advert) bool {
	av, bv := a.VIPs, b.VIPs
	a.VIPs, b.VIPs = nil, nil
	return reflect.DeepEqual(a, b) && slices.Equal(av, bv)
}

func TestDecodeIPRejects(t *testing.T) {
	good4, good6 := v2(51, 100, "192.0.2.100").ip(), v3six(51, 100, "2001:db8::1").ip()
	edit := func(b []byte, f func([]byte) []byte) []byte { return f(slices.Clone(b)) }
	lying := v3(51, 100, "192.0.2.100", "192.0.2.101")
	lying.CountDelta = 1
	short := v3(51, 100, "192.0.2.100", "192.0.2.101")
	short.CountDelta = -1
	lying6 := v3six(51, 100, "2001:db8::1")
	lying6.CountDelta = 200
	frag6 := v3six(51, 100, "2001:db8::1")
	frag6.IPv6ExtNext, frag6.IPv6Ext = 44, []byte{ProtocolVRRP, 0, 0, 0, 0, 0, 0, 1}
	longExt := v3six(51, 100, "2001:db8::1")
	longExt.IPv6ExtNext, longExt.IPv6Ext = 0, []byte{ProtocolVRRP, 4, 0, 0, 0, 0, 0, 0}
	var chain []byte
	for range maxExtHeaders + 1 {
		chain = append(chain, 60, 0, 1, 4, 0, 0, 0, 0)
	}
	chain[len(chain)-8] = ProtocolVRRP
	manyExt := v3six(51, 100, "2001:db8::1")
	manyExt.IPv6ExtNext, manyExt.IPv6Ext = 60, chain

	cases := []struct {
		name string
		b    []byte
		kind error
	}{
		{"empty", nil, ErrMalformed},
		{"ip version 5", edit(good4, func(b []byte) []byte { b[0] = 0x55; return b }), ErrNotVRRP},
		{"ipv4 header only half", good4[:10], ErrMalformed},
		{"ihl below 5", edit(good4, func(b []byte) []byte { b[0] = 0x44; return b }), ErrMalformed},
		{"ihl beyond packet", edit(good4[:24], func(b []byte) []byte { b[0] = 0x4f; return b }), ErrMalformed},
		{"total length beyond packet", good4[:len(good4)-1], ErrMalformed},
		{"total length below header", edit(good4, func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], 10); return b }), ErrMalformed},
		{"more fragments", edit(good4, func(b []byte) []byte { b[6] |= 0x20; return b }), ErrMalformed},
		{"fragment offset", edit(good4, func(b []byte) []byte { b[7] = 1; return b }), ErrMalformed},
		{"udp", edit(good4, func(b []byte) []byte { b[9] = 17; return b }), ErrNotVRRP},
		{"vrrp header truncated", edit(good4[:24], func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], 24); return b }), ErrMalformed},
		{"vrrp version 1", edit(good4, func(b []byte) []byte { b[20] = 0x11; return b }), ErrMalformed},
		{"vrrp type 2", edit(good4, func(b []byte) []byte { b[20] = 0x22; return b }), ErrMalformed},
		{"vrid 0", edit(good4, func(b []byte) []byte { b[21] = 0; return b }), ErrMalformed},
		{"count exceeds packet", lying.ip(), ErrMalformed},
		{"count short of packet", short.ip(), ErrMalformed},
		{"ipv6 count exceeds packet", lying6.ip(), ErrMalformed},
		{"ipv6 header truncated", good6[:39], ErrMalformed},
		{"ipv6 payload beyond packet", good6[:len(good6)-1], ErrMalformed},
		{"ipv6 udp", edit(good6, func(b []byte) []byte { b[6] = 17; return b }), ErrNotVRRP},
		{"ipv6 fragment", frag6.ip(), ErrMalformed},
		{"ipv6 extension beyond packet", longExt.ip(), ErrMalformed},
		{"ipv6 too many extensions", manyExt.ip(), ErrMalformed},
		{"ipv6 extension without room for its length", edit(good6[:41], func(b []byte) []byte {
			b[6] = 0
			binary.BigEndian.PutUint16(b[4:], 1)
			return b
		}), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := Advert{VIPs: make([]netip.Addr, 0, 4)}
			err := DecodeIP(c.b, &a)
			if !errors.Is(err, c.kind) {
				t.Fatalf("DecodeIP = %v, want %v", err, c.kind)
			}
		})
	}
}

func TestDecodeEthernet(t *testing.T) {
	p := v3(51, 100, "192.0.2.100")
	frame := p.ethernet()
	var a Advert
	// 802.1Q and QinQ tags are skipped.
	tag := func(f []byte, tpid uint16) []byte {
		out := slices.Clone(f[:12])
		out = binary.BigEndian.AppendUint16(out, tpid)
		out = append(out, 0x00, 0x0a)
		return append(out, f[12:]...)
	}
	for _, f := range [][]byte{frame, tag(frame, 0x8100), tag(tag(frame, 0x8100), 0x88a8)} {
		if err := DecodeEthernet(f, &a); err != nil || a.VRID != 51 {
			t.Errorf("DecodeEthernet(% x) = %v, VRID %d", f[12:20], err, a.VRID)
		}
	}
	cases := []struct {
		name string
		b    []byte
		kind error
	}{
		{"short", frame[:13], ErrMalformed},
		{"three tags", tag(tag(tag(frame, 0x8100), 0x8100), 0x8100), ErrNotVRRP},
		{"tag truncated", tag(frame, 0x8100)[:16], ErrMalformed},
		{"arp", append(slices.Clone(frame[:12]), 0x08, 0x06, 0, 1), ErrNotVRRP},
		{"ipv6 ethertype, ipv4 packet", append(append(slices.Clone(frame[:12]), 0x86, 0xdd), frame[14:]...), ErrMalformed},
		{"no payload", frame[:14], ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := DecodeEthernet(c.b, &a); !errors.Is(err, c.kind) {
				t.Fatalf("DecodeEthernet = %v, want %v", err, c.kind)
			}
		})
	}
}

// TestDecodeEveryPrefix feeds every truncation of real packets: each must be
// rejected (a prefix is never a valid advert) without panicking.
func TestDecodeEveryPrefix(t *testing.T) {
	for _, p := range []packet{v2(1, 100, "192.0.2.1"), v3(2, 100, "192.0.2.2", "192.0.2.3"), v3six(3, 100, "2001:db8::3")} {
		b := p.ip()
		var a Advert
		for n := range len(b) {
			if err := DecodeIP(b[:n], &a); err == nil {
				t.Errorf("DecodeIP of %d of %d bytes succeeded", n, len(b))
			}
		}
	}
}

func TestDecodeReusesVIPs(t *testing.T) {
	b := v3six(51, 100, "2001:db8::1", "2001:db8::2").ip()
	a := Advert{Outgoing: true}
	if err := DecodeIP(b, &a); err != nil {
		t.Fatal(err)
	}
	if a.Outgoing {
		t.Error("DecodeIP kept Outgoing from the previous use")
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := DecodeIP(b, &a); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("DecodeIP into a reused Advert allocates %.0f times", allocs)
	}
	garbage := v3(51, 100, "192.0.2.1").ip()[:30]
	allocs = testing.AllocsPerRun(100, func() { _ = DecodeIP(garbage, &a) })
	if allocs != 0 {
		t.Errorf("rejecting a packet allocates %.0f times", allocs)
	}
}

func TestChecksumMatchesRFC1071Example(t *testing.T) {
	// RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
	if got := checksum(0, []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}); got != 0xddf2 {
		t.Errorf("checksum = %#04x, want 0xddf2", got)
	}
	// An odd trailing byte is padded with zero.
	if got := checksum(0, []byte{0x01}); got != 0x0100 {
		t.Errorf("checksum odd = %#04x", got)
	}
}

func TestFamilyText(t *testing.T) {
	for _, f := range []Family{IPv4, IPv6} {
		b, err := f.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Family
		if err := back.UnmarshalText(b); err != nil || back != f {
			t.Errorf("round trip %v: %v, %v", f, back, err)
		}
	}
	if _, err := Family(5).MarshalText(); err == nil {
		t.Error("family 5 marshalled")
	}
	var f Family
	if err := f.UnmarshalText([]byte("inet")); err == nil {
		t.Error("inet accepted")
	}
	if Family(5).String() != "family(5)" {
		t.Error(Family(5).String())
	}
}
