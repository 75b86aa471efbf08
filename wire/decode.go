package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// ProtocolVRRP is VRRP's IPv4 protocol number and IPv6 next header value.
const ProtocolVRRP = 112

// Family is the IP version an advertisement travels in, which VRRP treats as
// a separate virtual router: VRID 51 over IPv4 and VRID 51 over IPv6 are two
// routers.
type Family uint8

// The two families. The values are the IP version numbers so that the first
// nibble of a packet converts directly.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// String returns "ipv4" or "ipv6", the label values the agent's metrics use.
func (f Family) String() string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return fmt.Sprintf("family(%d)", uint8(f))
}

// MarshalText encodes the family as "ipv4" or "ipv6".
func (f Family) MarshalText() ([]byte, error) {
	if f != IPv4 && f != IPv6 {
		return nil, fmt.Errorf("invalid address family %d", uint8(f))
	}
	return []byte(f.String()), nil
}

// UnmarshalText accepts "ipv4" or "ipv6".
func (f *Family) UnmarshalText(b []byte) error {
	switch string(b) {
	case "ipv4":
		*f = IPv4
	case "ipv6":
		*f = IPv6
	default:
		return fmt.Errorf("invalid address family %q: want ipv4 or ipv6", b)
	}
	return nil
}

// addrLen is the size of one address of the family in an advertisement.
func (f Family) addrLen() int {
	if f == IPv6 {
		return 16
	}
	return 4
}

// Key identifies one virtual router on the segment: VRRP runs one per VRID
// and address family.
type Key struct {
	VRID   uint8  `json:"vrid"`
	Family Family `json:"family"`
}

// String returns "VRID/family", for example "51/ipv4".
func (k Key) String() string { return fmt.Sprintf("%d/%s", k.VRID, k.Family) }

// valid reports whether k can occur on the wire: the decoder rejects VRID 0.
func (k Key) valid() bool { return k.VRID != 0 && (k.Family == IPv4 || k.Family == IPv6) }

// Advert is one decoded VRRP advertisement with the IP header fields that
// matter for diagnosing a segment.
type Advert struct {
	Version  uint8 // 2 (RFC 3768) or 3 (RFC 5798)
	VRID     uint8 // 1..255
	Priority uint8 // 0 means the sender stops being master
	// AuthType is VRRPv2's authentication type (0 none, 1 simple text
	// password, 2 IP AH). VRRPv3 has none; it is always 0 there. The
	// authentication data itself is not kept: it may be a password.
	AuthType uint8
	// Interval is the advertisement interval: whole seconds in VRRPv2,
	// centiseconds (12 bits, at most 40.95 s) in VRRPv3.
	Interval time.Duration
	Family   Family
	Src, Dst netip.Addr
	// VIPs are the addresses in the advertisement, in packet order. The
	// decoder reuses the slice's backing array: copy it to keep it past the
	// next decode into the same Advert.
	VIPs []netip.Addr
	// TTL is the IPv4 TTL or the IPv6 hop limit. Senders use 255 and
	// receivers drop anything else, so a lower value means the advert was
	// routed or forged.
	TTL uint8
	// ChecksumOK reports whether the VRRP checksum verifies: over the VRRP
	// message for VRRPv2, over the IP pseudo-header and the message for
	// VRRPv3. A receiver drops adverts whose checksum does not verify.
	ChecksumOK bool
	// Outgoing is set by the Listener for packets this host sent out of
	// the interface (PACKET_OUTGOING), that is our own keepalived's adverts.
	// The decoders leave it false.
	Outgoing bool
}

// Key returns the virtual router the advert belongs to.
func (a *Advert) Key() Key { return Key{VRID: a.VRID, Family: a.Family} }

// ErrNotVRRP means the packet is well-formed as far as it was read but is
// not a VRRP advertisement (another protocol or ethertype). A listener's
// filter already drops these, so seeing one means the filter was bypassed.
var ErrNotVRRP = errors.New("not a VRRP packet")

// ErrMalformed means the packet claims to be VRRP but cannot be decoded:
// truncated, inconsistent lengths, a bad address count, an unknown version,
// a non-advertisement type, VRID 0 or a fragment. Packets from the wire are
// untrusted, so the agent counts these and carries on.
var ErrMalformed = errors.New("malformed VRRP packet")

// decodeError is a decoder failure. The values below are allocated once so
// that rejecting a flood of garbage costs no allocation per packet.
type decodeError struct {
	msg  string
	kind error
}

func (e *decodeError) Error() string { return e.kind.Error() + ": " + e.msg }
func (e *decodeError) Unwrap() error { return e.kind }

func malformed(msg string) error { return &decodeError{msg: msg, kind: ErrMalformed} }
func notVRRP(msg string) error   { return &decodeError{msg: msg, kind: ErrNotVRRP} }

var (
	errShortEthernet = malformed("ethernet header truncated")
	errTooManyVLANs  = notVRRP("more than two VLAN tags")
	errEtherType     = notVRRP("ethertype is neither IPv4 nor IPv6")
	errEtherMismatch = malformed("IP version does not match the ethertype")
	errEmpty         = malformed("empty packet")
	errIPVersion     = notVRRP("IP version is neither 4 nor 6")
	errShortIPv4     = malformed("IPv4 header truncated")
	errIHL           = malformed("IPv4 header length out of range")
	errIPv4Length    = malformed("IPv4 total length exceeds the packet or is shorter than the header")
	errFragment      = malformed("fragment (VRRP adverts are never fragmented)")
	errProtocol      = notVRRP("IP protocol is not 112")
	errShortIPv6     = malformed("IPv6 header truncated")
	errIPv6Length    = malformed("IPv6 payload length exceeds the packet")
	errExtHeader     = malformed("IPv6 extension header truncated")
	errTooManyExt    = malformed("too many IPv6 extension headers")
	errNextHeader    = notVRRP("IPv6 next header is not 112")
	errShortVRRP     = malformed("VRRP header truncated")
	errVersion       = malformed("VRRP version is neither 2 nor 3")
	errType          = malformed("VRRP type is not advertisement (1)")
	errVRID          = malformed("VRID 0")
	errShortAddrs    = malformed("address count exceeds the packet")
	errLongAddrs     = malformed("packet is longer than the address count says")
)

// maxExtHeaders bounds the IPv6 extension header walk. VRRP never carries
// any; this only keeps a hostile chain from costing more than a few reads.
const maxExtHeaders = 4

// DecodeEthernet decodes a VRRP advertisement from an Ethernet II frame
// (with up to two 802.1Q/802.1ad tags) into a. Link padding after the IP
// packet is ignored. It never reads outside frame and never panics.
func DecodeEthernet(frame []byte, a *Advert) error {
	if len(frame) < 14 {
		return errShortEthernet
	}
	et := binary.BigEndian.Uint16(frame[12:])
	off := 14
	for tags := 0; et == 0x8100 || et == 0x88a8; tags++ {
		if tags == 2 {
			return errTooManyVLANs
		}
		if len(frame) < off+4 {
			return errShortEthernet
		}
		et = binary.BigEndian.Uint16(frame[off+2:])
		off += 4
	}
	var want byte
	switch et {
	case 0x0800:
		want = 4
	case 0x86dd:
		want = 6
	default:
		return errEtherType
	}
	pkt := frame[off:]
	if len(pkt) > 0 && pkt[0]>>4 != want {
		return errEtherMismatch
	}
	return DecodeIP(pkt, a)
}

// DecodeIP decodes a VRRP advertisement from an IPv4 or IPv6 packet (the
// version nibble decides) into a. Every field of a is overwritten; a.VIPs
// keeps its backing array, so decoding into the same Advert again does not
// allocate. Bytes after the IP packet's own length (link padding) are
// ignored. It never reads outside pkt and never panics.
//
// Errors wrap ErrNotVRRP or ErrMalformed.
func DecodeIP(pkt []byte, a *Advert) error {
	vips := a.VIPs[:0]
	*a = Advert{VIPs: vips}
	if len(pkt) == 0 {
		return errEmpty
	}
	switch pkt[0] >> 4 {
	case 4:
		return decodeIPv4(pkt, a)
	case 6:
		return decodeIPv6(pkt, a)
	}
	return errIPVersion
}

func decodeIPv4(pkt []byte, a *Advert) error {
	if len(pkt) < 20 {
		return errShortIPv4
	}
	ihl := int(pkt[0]&0x0f) * 4
	if ihl < 20 || ihl > len(pkt) {
		return errIHL
	}
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	if total < ihl || total > len(pkt) {
		return errIPv4Length
	}
	pkt = pkt[:total]
	// More-fragments set or a non-zero offset: a piece of something larger.
	if binary.BigEndian.Uint16(pkt[6:])&0x3fff != 0 {
		return errFragment
	}
	if pkt[9] != ProtocolVRRP {
		return errProtocol
	}
	a.Family = IPv4
	a.TTL = pkt[8]
	a.Src = netip.AddrFrom4([4]byte(pkt[12:16]))
	a.Dst = netip.AddrFrom4([4]byte(pkt[16:20]))
	return decodeVRRP(pkt[ihl:], a, pkt[12:20])
}

func decodeIPv6(pkt []byte, a *Advert) error {
	if len(pkt) < 40 {
		return errShortIPv6
	}
	end := 40 + int(binary.BigEndian.Uint16(pkt[4:]))
	if end > len(pkt) {
		return errIPv6Length
	}
	pkt = pkt[:end]
	a.Family = IPv6
	a.TTL = pkt[7]
	a.Src = netip.AddrFrom16([16]byte(pkt[8:24]))
	a.Dst = netip.AddrFrom16([16]byte(pkt[24:40]))
	next, off := pkt[6], 40
	// Walk the extension headers that share the generic layout (next
	// header, length in 8-octet units not counting the first 8). VRRP adverts
	// carry none; accepting them costs little and shows a sender that adds
	// them. A fragment header means a fragment, which VRRP never is.
	for i := 0; next != ProtocolVRRP; i++ {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
		case 44:
			return errFragment
		default:
			return errNextHeader
		}
		if i == maxExtHeaders {
			return errTooManyExt
		}
		if len(pkt) < off+2 {
			return errExtHeader
		}
		n := (int(pkt[off+1]) + 1) * 8
		if len(pkt) < off+n {
			return errExtHeader
		}
		next = pkt[off]
		off += n
	}
	return decodeVRRP(pkt[off:], a, pkt[8:40])
}

// decodeVRRP decodes the VRRP message msg. addrs is the source and
// destination address bytes of the IP header, for VRRPv3's pseudo-header.
func decodeVRRP(msg []byte, a *Advert, addrs []byte) error {
	if len(msg) < 8 {
		return errShortVRRP
	}
	a.Version = msg[0] >> 4
	if a.Version != 2 && a.Version != 3 {
		return errVersion
	}
	if msg[0]&0x0f != 1 {
		return errType
	}
	a.VRID, a.Priority = msg[1], msg[2]
	if a.VRID == 0 {
		return errVRID
	}
	count := int(msg[3])
	alen := a.Family.addrLen()
	want := 8 + count*alen
	if a.Version == 2 {
		// RFC 3768: eight bytes of authentication data follow the
		// addresses, whatever the authentication type.
		want += 8
		a.AuthType = msg[4]
		a.Interval = time.Duration(msg[5]) * time.Second
	} else {
		a.Interval = time.Duration(binary.BigEndian.Uint16(msg[4:])&0x0fff) * 10 * time.Millisecond
	}
	if len(msg) < want {
		return errShortAddrs
	}
	if len(msg) > want {
		return errLongAddrs
	}
	if a.Version == 2 {
		a.ChecksumOK = checksum(0, msg) == 0xffff
	} else {
		a.ChecksumOK = checksum(pseudoHeader(addrs, len(msg)), msg) == 0xffff
	}
	for i := range count {
		p := msg[8+i*alen:]
		if alen == 4 {
			a.VIPs = append(a.VIPs, netip.AddrFrom4([4]byte(p[:4])))
		} else {
			a.VIPs = append(a.VIPs, netip.AddrFrom16([16]byte(p[:16])))
		}
	}
	return nil
}

// pseudoHeader returns the unfolded one's complement sum of the pseudo-header
// VRRPv3 checksums: source and destination address, protocol 112 and the
// message length (RFC 5798 5.2.8, with RFC 768 / RFC 8200 8.1 layouts; the
// zero bytes add nothing, and the sum does not depend on the length field's
// width).
func pseudoHeader(addrs []byte, length int) uint32 {
	return sum16(0, addrs) + ProtocolVRRP + uint32(length)&0xffff + uint32(length)>>16
}

// sum16 adds b as big-endian 16-bit words (a final odd byte padded with
// zero) to s without folding.
func sum16(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// checksum folds the one's complement sum of init and b to 16 bits. Over a
// message whose checksum field is right the result is 0xffff.
func checksum(init uint32, b []byte) uint16 {
	s := sum16(init, b)
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
