package env

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func vipStrings(vips []VIP) []string {
	out := make([]string, len(vips))
	for i, v := range vips {
		out[i] = v.String()
	}
	return out
}

func TestParseVIPsAccepted(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"single IPv4", "192.0.2.10", []string{"192.0.2.10/32"}},
		{"single IPv6", "2001:db8::10", []string{"2001:db8::10/128"}},
		{"IPv6 upper case is canonicalised", "2001:DB8:0:0::A", []string{"2001:db8::a/128"}},
		{"prefix is kept, not glued to the address", "10.0.0.1/24", []string{"10.0.0.1/24"}},
		{"explicit /32", "10.0.0.1/32,10.0.0.2", []string{"10.0.0.1/32", "10.0.0.2/32"}},
		{"IPv6 with prefix", "2001:db8::10/64", []string{"2001:db8::10/64"}},
		{"network address with host prefix is one VIP", "192.0.2.0/32", []string{"192.0.2.0/32"}},
		{"IPv4 /30 block drops network and broadcast", "192.0.2.0/30", []string{"192.0.2.1/32", "192.0.2.2/32"}},
		{"IPv4 /28 block", "172.29.0.0/28", func() []string {
			var s []string
			for i := 1; i <= 14; i++ {
				s = append(s, fmt.Sprintf("172.29.0.%d/32", i))
			}
			return s
		}()},
		{"IPv4 /31 keeps both", "192.0.2.4/31", []string{"192.0.2.4/32", "192.0.2.5/32"}},
		{"IPv6 /126 drops only the all-zero address", "2001:db8::/126", []string{"2001:db8::1/128", "2001:db8::2/128", "2001:db8::3/128"}},
		{"IPv6 /127 keeps both", "2001:db8::4/127", []string{"2001:db8::4/128", "2001:db8::5/128"}},
		{"last-octet range", "10.0.0.1-3", []string{"10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"}},
		{"full-address range", "10.0.0.1-10.0.0.3", []string{"10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"}},
		{"range crossing an octet", "10.0.0.254-10.0.1.1", []string{"10.0.0.254/32", "10.0.0.255/32", "10.0.1.0/32", "10.0.1.1/32"}},
		{"one-address range", "10.0.0.7-7", []string{"10.0.0.7/32"}},
		{"IPv6 last-group range, lower case", "2001:db8::a-c", []string{"2001:db8::a/128", "2001:db8::b/128", "2001:db8::c/128"}},
		{"IPv6 last-group range, upper case", "2001:DB8:1ABC::1F39-1F3B", []string{"2001:db8:1abc::1f39/128", "2001:db8:1abc::1f3a/128", "2001:db8:1abc::1f3b/128"}},
		{"IPv6 range crossing a group", "2001:db8::ff-101", []string{"2001:db8::ff/128", "2001:db8::100/128", "2001:db8::101/128"}},
		{"IPv6 full-address range", "2001:DB8::1-2001:DB8::3", []string{"2001:db8::1/128", "2001:db8::2/128", "2001:db8::3/128"}},
		{"the original's doc example, spaces work", "1.1.1.1, 2.2.2.2,3.3.3.3-4  4.4.4.4", []string{"1.1.1.1/32", "2.2.2.2/32", "3.3.3.3/32", "3.3.3.4/32", "4.4.4.4/32"}},
		{"space separated", "1.1.1.1 2.2.2.2", []string{"1.1.1.1/32", "2.2.2.2/32"}},
		{"empty entries skipped", "10.1.1.1,,10.1.1.2", []string{"10.1.1.1/32", "10.1.1.2/32"}},
		{"newlines and tabs separate", "10.1.1.1\n\t10.1.1.2\r\n", []string{"10.1.1.1/32", "10.1.1.2/32"}},
		{"input order kept, families mixed", "2001:db8::1,192.0.2.1", []string{"2001:db8::1/128", "192.0.2.1/32"}},
		{"IPv6 link-local is allowed", "fe80::10", []string{"fe80::10/128"}},
		{"OpenShift docs example", "10.245.2.101-105,10.245.2.110", []string{"10.245.2.101/32", "10.245.2.102/32", "10.245.2.103/32", "10.245.2.104/32", "10.245.2.105/32", "10.245.2.110/32"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVIPs(tt.in)
			if err != nil {
				t.Fatalf("ParseVIPs(%q): %v", tt.in, err)
			}
			if g := vipStrings(got); !slices.Equal(g, tt.want) {
				t.Errorf("ParseVIPs(%q) = %v, want %v", tt.in, g, tt.want)
			}
		})
	}
}

func TestParseVIPsRejected(t *testing.T) {
	tests := []struct {
		in      string
		token   string // the entry the error must name
		message string // a fragment of the reason
	}{
		{"999.1.1.1", "999.1.1.1", "not an IP address"},
		{"10.0.0.1;rm -rf /", "10.0.0.1;rm", "not an IP address"},
		{"010.0.0.8", "010.0.0.8", "leading zero"},
		{"10.0.0.08-09", "10.0.0.08-09", "range start"},
		{"10.0.0.1-010", "10.0.0.1-010", "without leading zeros"},
		{"10.0.0.5-3", "10.0.0.5-3", "reversed"},
		{"10.0.1.5-10.0.0.1", "10.0.1.5-10.0.0.1", "reversed"},
		{"2001:db8::c-a", "2001:db8::c-a", "reversed"},
		{"10.0.0.254-300", "10.0.0.254-300", "not a valid last octet"},
		{"10.0.0.250-260", "10.0.0.250-260", "not a valid last octet"},
		{"10.0.0.1-", "10.0.0.1-", "missing"},
		{"10.0.0.1-2-3", "10.0.0.1-2-3", "more than one"},
		{"10.0.0.1-5/24", "10.0.0.1-5/24", "cannot carry a /prefix"},
		{"2001:db8::1-10000", "2001:db8::1-10000", "last IPv6 group"},
		{"2001:db8::1-xyz", "2001:db8::1-xyz", "last IPv6 group"},
		{"10.0.0.1-2001:db8::5", "10.0.0.1-2001:db8::5", "mixes IPv4 and IPv6"},
		{"2001:db8::1-10.0.0.5", "2001:db8::1-10.0.0.5", "mixes IPv4 and IPv6"},
		{"10.0.0.1,10.0.0.1", "10.0.0.1", "appears twice"},
		{"10.0.0.1/24 10.0.0.1/32", "10.0.0.1/32", "already listed"},
		{"10.0.0.1-5,10.0.0.3", "10.0.0.3", "already listed"},
		{"2001:db8::a, 2001:DB8::A", "2001:DB8::A", "already listed"},
		{"fe80::1%eth0", "fe80::1%eth0", "zone"},
		{"::ffff:192.0.2.1", "::ffff:192.0.2.1", "IPv4-mapped"},
		{"::ffff:192.0.2.0/120", "::ffff:192.0.2.0/120", "IPv4-mapped"},
		{"0.0.0.0", "0.0.0.0", "unspecified"},
		{"::", "::", "unspecified"},
		{"224.0.0.18", "224.0.0.18", "multicast"},
		{"ff02::12", "ff02::12", "multicast"},
		{"223.255.255.255-224.0.0.1", "223.255.255.255-224.0.0.1", "multicast"},
		{"127.0.0.1", "127.0.0.1", "loopback"},
		{"::1", "::1", "loopback"},
		{"127.0.0.0/30", "127.0.0.0/30", "loopback"},
		{"255.255.255.255", "255.255.255.255", "broadcast"},
		{"10.0.0.1/33", "10.0.0.1/33", "address/prefix-length"},
		{"10.0.0.1/024", "10.0.0.1/024", "address/prefix-length"},
		{"10.0.0.1/0", "10.0.0.1/0", "too short"},
		{"2001:db8::1/8", "2001:db8::1/8", "too short"},
		{"10.0.0.0/8", "10.0.0.0/8", "MaxVIPs"},
		{"2001:db8::/64", "2001:db8::/64", "MaxVIPs"},
		{"10.0.0.1\x00", "10.0.0.1\x00", "control character"},
		{"10.0.0.1\x7f", "10.0.0.1\x7f", "control character"},
		{"host.example", "host.example", "not an IP address"},
		{"1.2.3", "1.2.3", "not an IP address"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseVIPs(tt.in)
			if err == nil {
				t.Fatalf("ParseVIPs(%q) = %v, want an error", tt.in, vipStrings(got))
			}
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a *TokenError", err)
			}
			if te.Token != tt.token {
				t.Errorf("error names token %q, want %q (%v)", te.Token, tt.token, err)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not contain %q", err, tt.message)
			}
			if got != nil {
				t.Errorf("got VIPs %v alongside an error", got)
			}
		})
	}
}

func TestParseVIPsEmpty(t *testing.T) {
	for _, in := range []string{"", " ", ",,", "\n\t"} {
		if _, err := ParseVIPs(in); err == nil || !strings.Contains(err.Error(), "empty") {
			t.Errorf("ParseVIPs(%q) error = %v, want an empty-list error", in, err)
		}
	}
}

func TestParseVIPsReportsEveryBadToken(t *testing.T) {
	_, err := ParseVIPs("999.1.1.1, 10.0.0.1, 10.0.0.5-3, fe80::1%eth0")
	var n int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var te *TokenError
		if errors.As(e, &te) {
			n++
		}
	}
	if n != 3 {
		t.Errorf("got %d token errors, want 3: %v", n, err)
	}
}

func TestParseVIPsBadTokenLimit(t *testing.T) {
	in := strings.Repeat("x ", 1000)
	_, err := ParseVIPs(in)
	if got := len(err.(interface{ Unwrap() []error }).Unwrap()); got != maxTokenErrors+1 {
		t.Errorf("got %d errors, want %d", got, maxTokenErrors+1)
	}
}

func TestParseVIPsCap(t *testing.T) {
	// A /16 is 65534 addresses: it fits alone...
	vips, err := ParseVIPs("10.1.0.0/16")
	if err != nil || len(vips) != 65534 {
		t.Fatalf("10.1.0.0/16: %d VIPs, err %v", len(vips), err)
	}
	// ...and exactly MaxVIPs still fits...
	vips, err = ParseVIPs("10.1.0.0/16 10.2.0.1-2")
	if err != nil || len(vips) != MaxVIPs {
		t.Fatalf("exactly MaxVIPs: %d VIPs, err %v", len(vips), err)
	}
	// ...but one more does not, and the error names the entry that overflowed.
	_, err = ParseVIPs("10.1.0.0/16 10.2.0.1-3")
	var te *TokenError
	if !errors.As(err, &te) || te.Token != "10.2.0.1-3" || !strings.Contains(te.Reason, "MaxVIPs") {
		t.Fatalf("MaxVIPs+1: err %v", err)
	}
	// A huge IPv6 range is stopped while expanding.
	_, err = ParseVIPs("2001:db8::-2001:db8::ffff:ffff")
	if !errors.As(err, &te) || !strings.Contains(te.Reason, "MaxVIPs") {
		t.Fatalf("huge range: err %v", err)
	}
}

func TestParseVIPsTrailingDoubleColon(t *testing.T) {
	// `2001:db8::` is a valid address (the original image dropped it).
	vips, err := ParseVIPs("2001:db8::")
	if err != nil || len(vips) != 1 || vips[0].String() != "2001:db8::/128" {
		t.Errorf("got %v, %v", vips, err)
	}
}

func FuzzParseVIPs(f *testing.F) {
	for _, s := range []string{
		"192.0.2.10", "10.0.0.1/24", "172.29.0.0/28", "10.0.0.1-3,2001:db8::a-c",
		"2001:DB8:1ABC::1F39-1F3B", "fe80::1%eth0", "10.0.0.254-300", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		vips, err := ParseVIPs(s)
		if err != nil {
			if vips != nil {
				t.Fatalf("VIPs returned with an error")
			}
			return
		}
		if len(vips) == 0 || len(vips) > MaxVIPs {
			t.Fatalf("%d VIPs without an error", len(vips))
		}
		seen := make(map[string]bool, len(vips))
		for _, v := range vips {
			if !v.Prefix.IsValid() || v.Addr().Zone() != "" || v.Addr().Is4In6() {
				t.Fatalf("bad VIP %v", v)
			}
			a := v.Addr().String()
			if seen[a] {
				t.Fatalf("duplicate %s", a)
			}
			seen[a] = true
		}
		// Canonical and re-parseable: the printed list parses to itself.
		printed := strings.Join(vipStrings(vips), ",")
		again, err := ParseVIPs(printed)
		if err != nil {
			t.Fatalf("re-parse of %q: %v", printed, err)
		}
		if !slices.Equal(vipStrings(again), vipStrings(vips)) {
			t.Fatalf("re-parse changed the list: %q -> %v", printed, vipStrings(again))
		}
	})
}

func BenchmarkParseVIPs(b *testing.B) {
	var sb strings.Builder
	for i := range 200 {
		fmt.Fprintf(&sb, "10.%d.0.1-254, ", i)
	}
	sb.WriteString("2001:db8::/116")
	in := sb.String()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseVIPs(in); err != nil {
			b.Fatal(err)
		}
	}
}
