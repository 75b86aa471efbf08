package wire

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// packet describes an advert to encode for tests: real packets as keepalived
// sends them, or deliberately broken ones.
type packet struct {
	Version  uint8
	VRID     uint8
	Priority uint8
	AuthType uint8
	Auth     [8]byte // VRRPv2 authentication data
	Interval time.Duration
	Src, Dst netip.Addr // their family decides the IP version
	VIPs     []netip.Addr
	TTL      uint8 // 0 means 255

	CountDelta  int    // added to the count field: a lying count
	BadChecksum bool   // flip the checksum
	IPv6Ext     []byte // extension headers between the IPv6 header and VRRP, generic layout, chained to 112 by the caller
	IPv6ExtNext uint8  // next header value in the IPv6 header when IPv6Ext is set
}

// v2 returns a VRRPv2 advert from 192.0.2.1 to 224.0.0.18 as keepalived
// sends it with advert_int 1 and no authentication.
func v2(vrid, prio uint8, vips ...string) packet {
	return packet{Version: 2, VRID: vrid, Priority: prio, Interval: time.Second,
		Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("224.0.0.18"), VIPs: addrs(vips...)}
}

// v3 returns a VRRPv3 advert over IPv4 with advert_int 1.
func v3(vrid, prio uint8, vips ...string) packet {
	p := v2(vrid, prio, vips...)
	p.Version = 3
	return p
}

// v3six returns a VRRPv3 advert over IPv6 to ff02::12 with advert_int 1.
func v3six(vrid, prio uint8, vips ...string) packet {
	return packet{Version: 3, VRID: vrid, Priority: prio, Interval: time.Second,
		Src: netip.MustParseAddr("fe80::1"), Dst: netip.MustParseAddr("ff02::12"), VIPs: addrs(vips...)}
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, 0, len(s))
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// vrrp encodes the VRRP message with its checksum.
func (p packet) vrrp() []byte {
	six := p.Src.Is6()
	m := []byte{p.Version<<4 | 1, p.VRID, p.Priority, byte(len(p.VIPs) + p.CountDelta), 0, 0, 0, 0}
	if p.Version == 2 {
		m[4], m[5] = p.AuthType, byte(p.Interval/time.Second)
	} else {
		binary.BigEndian.PutUint16(m[4:], uint16(p.Interval/(10*time.Millisecond))&0x0fff)
	}
	for _, v := range p.VIPs {
		if six {
			b := v.As16()
			m = append(m, b[:]...)
		} else {
			b := v.As4()
			m = append(m, b[:]...)
		}
	}
	if p.Version == 2 {
		m = append(m, p.Auth[:]...)
	}
	// The pseudo-header is laid out byte by byte here, independently of the
	// decoder's arithmetic, so that the two check each other.
	var ph []byte
	if p.Version == 3 {
		ph = append(p.Src.AsSlice(), p.Dst.AsSlice()...)
		if six { // RFC 8200 8.1
			ph = binary.BigEndian.AppendUint32(ph, uint32(len(m)))
			ph = append(ph, 0, 0, 0, ProtocolVRRP)
		} else { // RFC 768 layout
			ph = append(ph, 0, ProtocolVRRP)
			ph = binary.BigEndian.AppendUint16(ph, uint16(len(m)))
		}
	}
	c := ^checksum(0, append(ph, m...))
	if p.BadChecksum {
		c ^= 0x5a5a
	}
	binary.BigEndian.PutUint16(m[6:], c)
	return m
}

// ip encodes the whole IP packet.
func (p packet) ip() []byte {
	msg := p.vrrp()
	ttl := p.TTL
	if ttl == 0 {
		ttl = 255
	}
	if p.Src.Is4() {
		h := make([]byte, 20, 20+len(msg))
		h[0] = 0x45
		h[1] = 0xc0 // DSCP CS6, as keepalived sets
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(msg)))
		h[8], h[9] = ttl, ProtocolVRRP
		s, d := p.Src.As4(), p.Dst.As4()
		copy(h[12:], s[:])
		copy(h[16:], d[:])
		binary.BigEndian.PutUint16(h[10:], ^checksum(0, h))
		return append(h, msg...)
	}
	h := make([]byte, 40, 40+len(p.IPv6Ext)+len(msg))
	h[0] = 0x6c // version 6, traffic class CS6
	binary.BigEndian.PutUint16(h[4:], uint16(len(p.IPv6Ext)+len(msg)))
	h[6], h[7] = ProtocolVRRP, ttl
	if len(p.IPv6Ext) > 0 {
		h[6] = p.IPv6ExtNext
	}
	s, d := p.Src.As16(), p.Dst.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	h = append(h, p.IPv6Ext...)
	return append(h, msg...)
}

// ethernet wraps the IP packet in an Ethernet II frame from the VRRP virtual
// MAC to the family's multicast MAC, padded to the 60-byte minimum.
func (p packet) ethernet() []byte {
	ip := p.ip()
	f := make([]byte, 14, 14+len(ip)+60)
	if p.Src.Is4() {
		copy(f, []byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, 0x00, 0x00, 0x5e, 0x00, 0x01, p.VRID, 0x08, 0x00})
	} else {
		copy(f, []byte{0x33, 0x33, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x5e, 0x00, 0x02, p.VRID, 0x86, 0xdd})
	}
	f = append(f, ip...)
	for len(f) < 60 {
		f = append(f, 0)
	}
	return f
}
