package wire

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzDecode/seed-* from the encoder")

// seeds are the committed seed corpus of FuzzDecode: real adverts as
// keepalived sends them, and the broken shapes the decoder must reject.
func seeds() map[string][]byte {
	fast := v3(52, 150, "192.0.2.101", "192.0.2.102")
	fast.Interval = 100 * time.Millisecond
	auth := v2(51, 100, "192.0.2.100")
	auth.AuthType, auth.Auth = 1, [8]byte{'p', 'a', 's', 's'}
	badCount := v3(53, 100, "192.0.2.103", "192.0.2.104")
	badCount.CountDelta = 3
	ext := v3six(54, 100, "2001:db8::54")
	ext.IPv6ExtNext, ext.IPv6Ext = 60, []byte{ProtocolVRRP, 0, 1, 4, 0, 0, 0, 0}
	badSum := v3six(55, 100, "2001:db8::55")
	badSum.BadChecksum = true
	full := v3(56, 100, "192.0.2.56")
	return map[string][]byte{
		"seed-v2":               v2(51, 100, "192.0.2.100").ip(),
		"seed-v2-password":      auth.ip(),
		"seed-v3-ipv4":          fast.ip(),
		"seed-v3-ipv6":          v3six(51, 100, "2001:db8::100", "2001:db8::101").ip(),
		"seed-v3-ipv6-ext":      ext.ip(),
		"seed-v3-ipv6-badsum":   badSum.ip(),
		"seed-ethernet-v3-ipv4": full.ethernet(),
		"seed-ethernet-v3-ipv6": v3six(57, 100, "2001:db8::57").ethernet(),
		"seed-truncated":        full.ip()[:30],
		"seed-bad-count":        badCount.ip(),
	}
}

func seedFile(b []byte) []byte { return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b) }

// TestFuzzSeeds keeps the committed corpus equal to what the encoder makes,
// so the seeds stay real packets; -update-seeds rewrites them.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	for name, b := range seeds() {
		path := filepath.Join(dir, name)
		if *updateSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, seedFile(b), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./wire -run TestFuzzSeeds -update-seeds)", err)
		}
		if string(got) != string(seedFile(b)) {
			t.Errorf("%s differs from the encoder's packet (run with -update-seeds)", path)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to both decoders. Whatever they accept
// must be self-consistent and must re-encode to an advert that decodes the
// same; whatever they reject must be rejected with one of the two errors.
// Accepted adverts also go through a table, a snapshot and detection.
func FuzzDecode(f *testing.F) {
	start := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, b []byte) {
		var a Advert
		for _, dec := range []func([]byte, *Advert) error{DecodeIP, DecodeEthernet} {
			err := dec(b, &a)
			if err != nil {
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotVRRP) {
					t.Fatalf("error %v wraps neither ErrMalformed nor ErrNotVRRP", err)
				}
				continue
			}
			checkAdvert(t, &a)
			now := start
			tab := NewTable(func() time.Time { return now }, Limits{})
			tab.SetLocal(Local{Instances: []Instance{{Name: "VI", VRID: a.VRID, Family: a.Family, Version: 3, Interval: time.Second}}})
			tab.Observe(&a)
			now = now.Add(a.Interval)
			tab.Observe(&a)
			s := tab.Snapshot()
			if g := s.Group(a.Key()); g == nil || g.Adverts != 2 {
				t.Fatalf("snapshot group for %v: %+v", a.Key(), g)
			}
			_ = Guard(s)
		}
	})
}

func checkAdvert(t *testing.T, a *Advert) {
	t.Helper()
	if a.Version != 2 && a.Version != 3 {
		t.Fatalf("version %d accepted", a.Version)
	}
	if a.VRID == 0 {
		t.Fatal("VRID 0 accepted")
	}
	six := a.Family == IPv6
	if a.Family != IPv4 && !six {
		t.Fatalf("family %v", a.Family)
	}
	for _, ip := range append([]netip.Addr{a.Src, a.Dst}, a.VIPs...) {
		if ip.Is6() != six || ip.Is4() == six {
			t.Fatalf("address %v in a %v advert", ip, a.Family)
		}
	}
	if a.Version == 3 && (a.AuthType != 0 || a.Interval > 4095*10*time.Millisecond || a.Interval%(10*time.Millisecond) != 0) {
		t.Fatalf("VRRPv3 auth type %d interval %v", a.AuthType, a.Interval)
	}
	if a.Version == 2 && (a.Interval > 255*time.Second || a.Interval%time.Second != 0) {
		t.Fatalf("VRRPv2 interval %v", a.Interval)
	}
	// Re-encode what was decoded: the result must decode to the same
	// advert with a valid checksum.
	p := packet{Version: a.Version, VRID: a.VRID, Priority: a.Priority, AuthType: a.AuthType, Interval: a.Interval,
		Src: a.Src, Dst: a.Dst, VIPs: a.VIPs, TTL: a.TTL}
	var back Advert
	if err := DecodeIP(p.ip(), &back); err != nil {
		t.Fatalf("re-encoded %+v does not decode: %v", a, err)
	}
	want := *a
	want.ChecksumOK = true
	if a.TTL == 0 { // the encoder sends 255 for 0
		want.TTL = 255
	}
	if !advertEqual(back, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", back, want)
	}
}
