package env

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
)

// MaxVIPs caps how many addresses OPENSHIFT_HA_VIRTUAL_IPS may expand to.
//
// 65536 is an IPv4 /16 and far more than VRRP can carry (at most 255 VRIDs,
// each with a few dozen addresses in practice), yet the expanded list stays a
// few megabytes. The cap is enforced while expanding, so an entry such as
// `2001:db8::/64` fails at once instead of exhausting memory.
const MaxVIPs = 65536

// maxTokenErrors bounds how many bad entries one list reports, so that a
// pasted garbage file does not produce megabytes of problems.
const maxTokenErrors = 20

// TokenError is one unusable entry of a VIP list.
type TokenError struct {
	Token  string // the entry as written ("" when the list itself is at fault)
	Reason string // what is wrong and what is accepted
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("VIP entry %q: %s", e.Token, e.Reason)
}

// ParseVIPs parses a VIP list in the OPENSHIFT_HA_VIRTUAL_IPS syntax.
//
// Entries are separated by commas and/or white space. Each entry is one of:
//
//   - an address: `192.0.2.10`, `2001:db8::10` (a /32 or /128 VIP);
//   - an address with an on-link prefix: `192.0.2.10/24` is the VIP
//     192.0.2.10 added as /24 (never 192.0.2.1024, the original image's bug);
//   - a block whose host bits are all zero: `192.0.2.0/28` expands to its
//     usable addresses, each a /32 (IPv4 /30 and larger lose the network and
//     broadcast addresses, a /31 keeps both) or /128 (IPv6 loses only the
//     all-zero Subnet-Router anycast address, except in a /127, which
//     RFC 6164 lets use both);
//   - a range: `192.0.2.1-5` (last octet), `192.0.2.250-192.0.3.5` (full end
//     address, may cross octets), `2001:db8::a-1f` (last group, hex in any
//     case) or `2001:db8::a-2001:db8::1:0`.
//
// Rejected, with an error naming the entry: malformed addresses (including
// IPv4 with leading zeros), zones (`fe80::1%eth0`), IPv4-mapped IPv6,
// unspecified, loopback, multicast and limited-broadcast addresses, reversed
// or mixed-family ranges, range ends that are not valid, prefixes shorter
// than /8 (IPv4) or /16 (IPv6) on a single VIP, duplicates (the same address
// even with another prefix), control characters, an empty list and more than
// MaxVIPs addresses in total.
//
// The result keeps input order and is canonical (netip's String form, so
// IPv6 is lower case and compressed). On error the VIP slice is nil and the
// error joins one *TokenError per bad entry.
func ParseVIPs(s string) ([]VIP, error) {
	vips, errs := parseVIPList(s)
	if len(errs) > 0 {
		joined := make([]error, len(errs))
		for i, e := range errs {
			joined[i] = e
		}
		return nil, errors.Join(joined...)
	}
	return vips, nil
}

// isListSeparator reports the characters that separate list entries in
// every list-valued variable: commas and any white space (so YAML block
// scalars with one entry per line work).
func isListSeparator(r rune) bool { return r == ',' || unicode.IsSpace(r) }

// splitList splits a list-valued variable into its entries.
func splitList(s string) []string { return strings.FieldsFunc(s, isListSeparator) }

// vipList accumulates the expansion of a VIP list.
type vipList struct {
	vips []VIP
	seen map[netip.Addr]string // address -> entry that first produced it
}

// errTooMany aborts parsing: nothing after the cap is worth reading.
var errTooMany = fmt.Errorf("the list expands to more than %d addresses (MaxVIPs); use fewer or smaller blocks and ranges", MaxVIPs)

func parseVIPList(s string) ([]VIP, []*TokenError) {
	tokens := splitList(s)
	if len(tokens) == 0 {
		return nil, []*TokenError{{Reason: "the list is empty; give at least one address, address/prefix, CIDR block or range"}}
	}
	l := &vipList{seen: make(map[netip.Addr]string)}
	var errs []*TokenError
	for _, tok := range tokens {
		if len(errs) == maxTokenErrors {
			errs = append(errs, &TokenError{Token: tok, Reason: fmt.Sprintf("not checked: stopped after %d bad entries", maxTokenErrors)})
			break
		}
		err := l.addToken(tok)
		if err == nil {
			continue
		}
		errs = append(errs, &TokenError{Token: tok, Reason: err.Error()})
		if errors.Is(err, errTooMany) {
			break
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return l.vips, nil
}

func (l *vipList) addToken(tok string) error {
	if hasControl(tok) {
		return errors.New("contains a control character")
	}
	if strings.Contains(tok, "%") {
		return errors.New("has a zone (the part after '%'); VIPs cannot be scoped to an interface, drop the zone")
	}
	if strings.Contains(tok, "-") {
		return l.addRange(tok)
	}
	if strings.Contains(tok, "/") {
		return l.addPrefix(tok)
	}
	a, err := netip.ParseAddr(tok)
	if err != nil {
		return fmt.Errorf("not an IP address (%s); accepted: 192.0.2.10, 192.0.2.10/24, 192.0.2.0/28, 192.0.2.1-5, 2001:db8::a-f", netipReason(err))
	}
	if r := badVIPAddr(a); r != "" {
		return errors.New(r)
	}
	return l.add(tok, netip.PrefixFrom(a, a.BitLen()))
}

// add appends one VIP after the duplicate and cap checks.
func (l *vipList) add(tok string, p netip.Prefix) error {
	if first, dup := l.seen[p.Addr()]; dup {
		if first == tok {
			return fmt.Errorf("address %s appears twice", p.Addr())
		}
		return fmt.Errorf("address %s is already listed (by %q); each VIP may appear only once", p.Addr(), first)
	}
	if len(l.vips) >= MaxVIPs {
		return errTooMany
	}
	l.seen[p.Addr()] = tok
	l.vips = append(l.vips, VIP{Prefix: p})
	return nil
}

func (l *vipList) addPrefix(tok string) error {
	p, err := netip.ParsePrefix(tok)
	if err != nil {
		return fmt.Errorf("not an address/prefix-length (%s); accepted: 192.0.2.10/24, 2001:db8::10/64, or a block such as 192.0.2.0/28", netipReason(err))
	}
	a, bits, hostLen := p.Addr(), p.Bits(), p.Addr().BitLen()
	if a.Is4In6() {
		return errors.New("is an IPv4-mapped IPv6 address; write the plain IPv4 address instead")
	}
	if bits < hostLen && p.Masked().Addr() == a {
		return l.addBlock(tok, p)
	}
	if r := badVIPAddr(a); r != "" {
		return errors.New(r)
	}
	// A very short on-link prefix would make most of the Internet "directly
	// connected" through the VIP's interface on whichever node holds it.
	minBits := 8
	if hostLen == 128 {
		minBits = 16
	}
	if bits < minBits {
		return fmt.Errorf("prefix length /%d is too short for a VIP's on-link prefix; use /%d or longer", bits, minBits)
	}
	return l.add(tok, p)
}

// addBlock expands a CIDR block into host-length VIPs.
func (l *vipList) addBlock(tok string, p netip.Prefix) error {
	hostLen := p.Addr().BitLen()
	hostBits := hostLen - p.Bits()
	// 2^17-2 already exceeds MaxVIPs; refuse before computing sizes that may
	// not fit in an int. Smaller blocks are stopped by add's running cap.
	if hostBits > 16 {
		return fmt.Errorf("block /%d has %s addresses, more than the %d VIPs allowed in total (MaxVIPs); use a longer prefix", p.Bits(), blockSize(hostBits), MaxVIPs)
	}
	n := 1 << hostBits
	skipFirst := hostBits > 1                  // IPv4 network address, IPv6 Subnet-Router anycast
	skipLast := hostBits > 1 && p.Addr().Is4() // IPv4 broadcast
	a := p.Addr()
	for i := 0; i < n; i, a = i+1, a.Next() {
		if (i == 0 && skipFirst) || (i == n-1 && skipLast) {
			continue
		}
		if r := badVIPAddr(a); r != "" {
			return fmt.Errorf("block includes %s, which %s", a, r)
		}
		if err := l.add(tok, netip.PrefixFrom(a, hostLen)); err != nil {
			return err
		}
	}
	return nil
}

func blockSize(hostBits int) string {
	if hostBits < 63 {
		return strconv.FormatUint(1<<hostBits, 10)
	}
	return fmt.Sprintf("2^%d", hostBits)
}

func (l *vipList) addRange(tok string) error {
	startS, endS, _ := strings.Cut(tok, "-")
	if strings.Contains(endS, "-") {
		return errors.New("has more than one '-'; a range is start-end, e.g. 192.0.2.1-5")
	}
	if strings.Contains(tok, "/") {
		return errors.New("a range cannot carry a /prefix; ranges expand to /32 or /128 VIPs, list address/prefix entries one by one instead")
	}
	start, err := netip.ParseAddr(startS)
	if err != nil {
		return fmt.Errorf("range start %q is not an IP address (%s)", startS, netipReason(err))
	}
	if r := badVIPAddr(start); r != "" {
		return fmt.Errorf("range start %s", r)
	}
	end, err := rangeEnd(start, endS)
	if err != nil {
		return err
	}
	if end.Less(start) {
		return fmt.Errorf("range is reversed: end %s is below start %s", end, start)
	}
	hostLen := start.BitLen()
	for a := start; ; a = a.Next() {
		if r := badVIPAddr(a); r != "" {
			return fmt.Errorf("range includes %s, which %s", a, r)
		}
		if err := l.add(tok, netip.PrefixFrom(a, hostLen)); err != nil {
			return err
		}
		if a == end {
			return nil
		}
	}
}

// rangeEnd resolves the end of a range: a full address of the start's
// family, or the last IPv4 octet (decimal) or IPv6 group (hex).
func rangeEnd(start netip.Addr, endS string) (netip.Addr, error) {
	if endS == "" {
		return netip.Addr{}, errors.New("range end is missing; write start-end, e.g. 192.0.2.1-5")
	}
	if strings.ContainsAny(endS, ".:") {
		end, err := netip.ParseAddr(endS)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("range end %q is not an IP address (%s)", endS, netipReason(err))
		}
		if end.Is4() != start.Is4() {
			return netip.Addr{}, errors.New("range mixes IPv4 and IPv6; both ends must be of one family")
		}
		return end, nil
	}
	if start.Is4() {
		n, ok := parseDecimal(endS)
		if !ok || n > 255 || (len(endS) > 1 && endS[0] == '0') {
			return netip.Addr{}, fmt.Errorf("range end %q is not a valid last octet; give 0-255 without leading zeros, or a full end address", endS)
		}
		b := start.As4()
		b[3] = byte(n)
		return netip.AddrFrom4(b), nil
	}
	n, err := strconv.ParseUint(endS, 16, 16)
	if err != nil || len(endS) > 4 {
		return netip.Addr{}, fmt.Errorf("range end %q is not a valid last IPv6 group; give 1-4 hex digits (0-ffff), or a full end address", endS)
	}
	b := start.As16()
	b[14], b[15] = byte(n>>8), byte(n)
	return netip.AddrFrom16(b), nil
}

// badVIPAddr says why a cannot be a VIP, or returns "".
func badVIPAddr(a netip.Addr) string {
	switch {
	case a.Zone() != "":
		return "has a zone; VIPs cannot be scoped to an interface, drop the zone"
	case a.Is4In6():
		return "is an IPv4-mapped IPv6 address; write the plain IPv4 address instead"
	case a.IsUnspecified():
		return "is the unspecified address, not usable as a VIP"
	case a.IsLoopback():
		return "is a loopback address, not usable as a VIP"
	case a.IsMulticast():
		return "is a multicast address, not usable as a VIP"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "is the limited broadcast address, not usable as a VIP"
	}
	return ""
}

// netipReason trims netip's error, which repeats the whole input, down to
// its explanation.
func netipReason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "): "); i >= 0 {
		return msg[i+3:]
	}
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

// hasControl reports control characters (including DEL and the Unicode C1
// range).
func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// parseDecimal parses a non-empty string of ASCII digits (at most 9, so it
// never overflows).
func parseDecimal(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
