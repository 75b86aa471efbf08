package wire

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

// clock is a manual clock for tables.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_700_000_000, 0).UTC()} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// ad returns a decoded-looking VRRPv3 IPv4 advert with a 1 s interval.
func ad(src string, vrid, prio uint8, vips ...string) *Advert {
	s := netip.MustParseAddr(src)
	fam, dst := IPv4, netip.MustParseAddr("224.0.0.18")
	if s.Is6() {
		fam, dst = IPv6, netip.MustParseAddr("ff02::12")
	}
	return &Advert{Version: 3, VRID: vrid, Priority: prio, Interval: time.Second, Family: fam,
		Src: s, Dst: dst, VIPs: addrs(vips...), TTL: 255, ChecksumOK: true}
}

func mustGroup(t *testing.T, s Snapshot, k Key) *Group {
	t.Helper()
	g := s.Group(k)
	if g == nil {
		t.Fatalf("no group %v in %+v", k, s.Groups)
	}
	return g
}

func TestTableObserve(t *testing.T) {
	c := newClock()
	tab := NewTable(c.now, Limits{})
	a := ad("192.0.2.2", 51, 100, "192.0.2.100")
	tab.Observe(a)
	first := c.now()
	c.add(time.Second)
	tab.Observe(a)
	a.VIPs[0] = netip.MustParseAddr("192.0.2.99") // the table must have copied
	a.VIPs = a.VIPs[:0]
	s := tab.Snapshot()
	g := mustGroup(t, s, Key{51, IPv4})
	want := Source{Addr: netip.MustParseAddr("192.0.2.2"), Priority: 100, Interval: time.Second, Version: 3,
		VIPs: addrs("192.0.2.100"), TTL: 255, ChecksumOK: true, FirstHeard: first, LastHeard: c.now(),
		Since: first, Packets: 2, Master: true}
	if len(g.Sources) != 1 || !reflect.DeepEqual(g.Sources[0], want) {
		t.Fatalf("sources:\n got %+v\nwant %+v", g.Sources, want)
	}
	if g.Masters != 1 || g.Master == nil || g.Master.Addr != want.Addr || g.Adverts != 2 || g.ForeignAdverts != 2 || g.Ours {
		t.Errorf("group %+v", g)
	}
	if !s.Taken.Equal(c.now()) || !s.Since.Equal(first) {
		t.Errorf("taken %v since %v", s.Taken, s.Since)
	}
}

func TestTableExpiry(t *testing.T) {
	cases := []struct {
		name     string
		interval time.Duration
		keep     time.Duration // still there this long after the last advert
	}{
		{"one second", time.Second, 4 * time.Second},
		{"centiseconds", 100 * time.Millisecond, 1300 * time.Millisecond},
		{"zero", 0, time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			tab := NewTable(clk.now, Limits{})
			a := ad("192.0.2.2", 51, 100, "192.0.2.100")
			a.Interval = c.interval
			tab.Observe(a)
			clk.add(c.keep)
			if g := mustGroup(t, tab.Snapshot(), a.Key()); len(g.Sources) != 1 {
				t.Fatalf("gone after %v", c.keep)
			}
			clk.add(time.Millisecond)
			g := mustGroup(t, tab.Snapshot(), a.Key())
			if len(g.Sources) != 0 || g.Masters != 0 || g.Master != nil {
				t.Fatalf("still there after %v: %+v", c.keep+time.Millisecond, g)
			}
			if g.Adverts != 1 {
				t.Errorf("advert counter %d after expiry, want 1", g.Adverts)
			}
		})
	}
}

func TestTableExpiresOnObserve(t *testing.T) {
	clk := newClock()
	tab := NewTable(clk.now, Limits{})
	tab.Observe(ad("192.0.2.2", 51, 100))
	clk.add(10 * time.Second)
	tab.Observe(ad("192.0.2.3", 52, 100))
	tab.mu.Lock()
	n := tab.n
	tab.mu.Unlock()
	if n != 1 {
		t.Errorf("%d sources after the first expired and another was observed, want 1", n)
	}
}

func TestTableOurs(t *testing.T) {
	clk := newClock()
	tab := NewTable(clk.now, Limits{})
	out := ad("192.0.2.1", 51, 100)
	out.Outgoing = true
	tab.Observe(out)
	tab.Observe(ad("192.0.2.2", 51, 100))
	tab.Observe(ad("2001:db8::1", 51, 100))
	isOurs := func() map[string]bool {
		m := map[string]bool{}
		for _, g := range tab.Snapshot().Groups {
			for _, s := range g.Sources {
				m[s.Addr.String()] = s.Ours
			}
		}
		return m
	}
	if got, want := isOurs(), map[string]bool{"192.0.2.1": true, "192.0.2.2": false, "2001:db8::1": false}; !reflect.DeepEqual(got, want) {
		t.Errorf("before SetLocal: %v, want %v", got, want)
	}
	tab.SetLocal(Local{Addrs: addrs("2001:db8::1")})
	// Seen leaving the host stays ours; a local address becomes ours.
	if got, want := isOurs(), map[string]bool{"192.0.2.1": true, "192.0.2.2": false, "2001:db8::1": true}; !reflect.DeepEqual(got, want) {
		t.Errorf("after SetLocal: %v, want %v", got, want)
	}
	tab.SetLocal(Local{Addrs: addrs("::ffff:192.0.2.2", "fe80::1%eth0")})
	tab.Observe(ad("fe80::1", 52, 100))
	if got, want := isOurs(), map[string]bool{"192.0.2.1": true, "192.0.2.2": true, "2001:db8::1": false, "fe80::1": true}; !reflect.DeepEqual(got, want) {
		t.Errorf("mapped and zoned local addresses: %v, want %v", got, want)
	}
	g := mustGroup(t, tab.Snapshot(), Key{51, IPv4})
	if g.ForeignAdverts != 1 {
		t.Errorf("foreign adverts %d, want 1 (only 192.0.2.2's, which was foreign then)", g.ForeignAdverts)
	}
}

func TestTableLimits(t *testing.T) {
	clk := newClock()
	tab := NewTable(clk.now, Limits{SourcesPerKey: 3, Sources: 5})
	ours := ad("192.0.2.1", 51, 100)
	ours.Outgoing = true
	tab.Observe(ours)
	for i := 2; i <= 6; i++ {
		clk.add(time.Millisecond)
		tab.Observe(ad(fmt.Sprintf("192.0.2.%d", i), 51, 100))
	}
	g := mustGroup(t, tab.Snapshot(), Key{51, IPv4})
	var got []string
	for _, s := range g.Sources {
		got = append(got, s.Addr.String())
	}
	// Ours survives although it is the oldest; then the newest foreign ones.
	if want := []string{"192.0.2.1", "192.0.2.5", "192.0.2.6"}; !slices.Equal(got, want) {
		t.Errorf("per-key limit kept %v, want %v", got, want)
	}
	for i := 7; i <= 9; i++ {
		clk.add(time.Millisecond)
		tab.Observe(ad(fmt.Sprintf("192.0.2.%d", i), uint8(i), 100))
	}
	s := tab.Snapshot()
	got = nil
	for _, g := range s.Groups {
		for _, src := range g.Sources {
			got = append(got, src.Addr.String())
		}
	}
	slices.Sort(got)
	if want := []string{"192.0.2.1", "192.0.2.6", "192.0.2.7", "192.0.2.8", "192.0.2.9"}; !slices.Equal(got, want) {
		t.Errorf("total limit kept %v, want %v", got, want)
	}
	if g := mustGroup(t, s, Key{51, IPv4}); g.Adverts != 6 {
		t.Errorf("adverts counter %d after evictions, want 6", g.Adverts)
	}
}

func TestTableLimitsFlood(t *testing.T) {
	clk := newClock()
	tab := NewTable(clk.now, Limits{})
	var a Advert
	// 100,000 spoofed sources on every VRID and family.
	for i := range 100_000 {
		a = *ad("192.0.2.1", uint8(i%255+1), 100)
		if i%2 == 1 {
			a = *ad("2001:db8::1", uint8(i%255+1), 100)
		}
		a.Src = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if a.Family == IPv6 {
			a.Src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
		}
		tab.Observe(&a)
	}
	s := tab.Snapshot()
	n := 0
	for _, g := range s.Groups {
		if len(g.Sources) > DefaultLimits.SourcesPerKey {
			t.Errorf("group %v has %d sources", g.Key(), len(g.Sources))
		}
		n += len(g.Sources)
	}
	if n > DefaultLimits.Sources || len(s.Groups) > 510 {
		t.Errorf("%d sources in %d groups", n, len(s.Groups))
	}
}

func TestTableRunSince(t *testing.T) {
	clk := newClock()
	tab := NewTable(clk.now, Limits{})
	start := clk.now()
	tab.Observe(ad("192.0.2.2", 51, 100))
	clk.add(time.Second)
	tab.Observe(ad("192.0.2.2", 51, 100))
	since := func() (time.Time, bool) {
		g := mustGroup(t, tab.Snapshot(), Key{51, IPv4})
		return g.Sources[0].Since, g.Sources[0].Master
	}
	if s, m := since(); !s.Equal(start) || !m {
		t.Errorf("steady run: since %v master %v", s, m)
	}
	clk.add(time.Second)
	tab.Observe(ad("192.0.2.2", 51, 0)) // steps down
	if _, m := since(); m {
		t.Error("priority 0 source counted as master")
	}
	clk.add(2 * time.Second)
	back := clk.now()
	tab.Observe(ad("192.0.2.2", 51, 100))
	if s, m := since(); !s.Equal(back) || !m {
		t.Errorf("after priority 0: since %v (want %v) master %v", s, back, m)
	}
}

func TestTableUpdateRx(t *testing.T) {
	k := Key{51, IPv4}
	type step struct {
		foreign int    // adverts from a peer before the call
		rx      uint64 // keepalived's counter passed
		missing bool   // the key is not in the map
		stalled bool   // expected verdict after the call
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"counter moves", []step{{0, 10, false, false}, {5, 15, false, false}, {5, 20, false, false}}},
		{"counter stuck", []step{{0, 10, false, false}, {2, 10, false, false}, {1, 10, false, true}, {3, 10, false, true}}},
		{"stuck then moves", []step{{0, 10, false, false}, {5, 10, false, true}, {1, 11, false, false}, {1, 11, false, false}}},
		{"keepalived restart resets", []step{{0, 100, false, false}, {5, 3, false, false}, {2, 3, false, false}, {1, 3, false, true}}},
		{"rare reads with steady receive", []step{{0, 10, false, false}, {100, 110, false, false}, {100, 210, false, false}}},
		{"dropped from the map", []step{{0, 10, false, false}, {5, 10, false, true}, {5, 0, true, false}, {5, 10, false, false}}},
		{"no traffic is no verdict", []step{{0, 10, false, false}, {0, 10, false, false}, {0, 10, false, false}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			tab := NewTable(clk.now, Limits{})
			for i, st := range c.steps {
				for range st.foreign {
					clk.add(100 * time.Millisecond)
					tab.Observe(ad("192.0.2.2", 51, 100))
				}
				rx := map[Key]uint64{k: st.rx}
				if st.missing {
					rx = nil
				}
				tab.UpdateRx(rx)
				g := mustGroup(t, tab.Snapshot(), k)
				if st.missing {
					if g.Receive != nil {
						t.Errorf("step %d: receive %+v for a key not passed", i, g.Receive)
					}
					continue
				}
				if g.Receive == nil || g.Receive.Stalled != st.stalled || g.Receive.Counter != st.rx {
					t.Errorf("step %d: receive %+v, want stalled %v counter %d", i, g.Receive, st.stalled, st.rx)
				}
			}
		})
	}
	tab := NewTable(nil, Limits{})
	tab.UpdateRx(map[Key]uint64{{0, IPv4}: 1, {1, Family(5)}: 1})
	if s := tab.Snapshot(); len(s.Groups) != 0 {
		t.Errorf("invalid keys made groups %+v", s.Groups)
	}
}

func TestSnapshotIncludesOurInstances(t *testing.T) {
	tab := NewTable(newClock().now, Limits{})
	tab.SetLocal(Local{Interface: "eth0", Addrs: addrs("192.0.2.1"), Instances: []Instance{
		{Name: "VI_1", VRID: 51, Family: IPv4, VIPs: addrs("192.0.2.100"), Interval: time.Second, Version: 3},
		{Name: "VI_2", VRID: 51, Family: IPv6, VIPs: addrs("2001:db8::100"), Interval: time.Second, Version: 3},
	}})
	tab.Observe(ad("192.0.2.9", 9, 100, "192.0.2.90"))
	s := tab.Snapshot()
	var got []string
	for _, g := range s.Groups {
		got = append(got, fmt.Sprintf("%v ours=%v %s", g.Key(), g.Ours, g.Instance))
	}
	if want := []string{"9/ipv4 ours=false ", "51/ipv4 ours=true VI_1", "51/ipv6 ours=true VI_2"}; !slices.Equal(got, want) {
		t.Errorf("groups %q, want %q", got, want)
	}
	if s.Interface != "eth0" || len(s.Instances) != 2 || !slices.Equal(s.LocalAddrs, addrs("192.0.2.1")) {
		t.Errorf("snapshot local part %+v", s)
	}
}

func TestSnapshotJSON(t *testing.T) {
	clk := newClock()
	tab := NewTable(clk.now, Limits{})
	tab.SetLocal(Local{Interface: "eth0", Addrs: addrs("192.0.2.1"), Instances: []Instance{
		{Name: "VI_1", VRID: 51, Family: IPv4, VIPs: addrs("192.0.2.100"), Interval: 100 * time.Millisecond, Version: 3},
	}})
	for range 20 {
		tab.Observe(ad("192.0.2.1", 51, 150, "192.0.2.100"))
		tab.Observe(ad("192.0.2.7", 51, 100, "192.0.2.200"))
		clk.add(time.Second)
	}
	tab.UpdateRx(map[Key]uint64{{51, IPv4}: 4})
	s := tab.Snapshot()
	if len(s.Conflicts) == 0 {
		t.Fatal("scenario has no conflicts")
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v\njson %s", back, s, b)
	}
	var raw struct {
		Groups []struct {
			Family string
			Master struct{ Interval string }
		}
		Instances []struct{ Interval string }
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if raw.Groups[0].Family != "ipv4" || raw.Groups[0].Master.Interval != "1s" || raw.Instances[0].Interval != "100ms" {
		t.Errorf("JSON spells family %q, intervals %q and %q", raw.Groups[0].Family, raw.Groups[0].Master.Interval, raw.Instances[0].Interval)
	}
	if err := json.Unmarshal([]byte(`{"interval":"soon"}`), new(Source)); err == nil {
		t.Error("bad interval accepted")
	}
}

func TestPickMaster(t *testing.T) {
	clk := newClock()
	tab := NewTable(clk.now, Limits{})
	// The old master (150) crashed; 100 took over after 3 intervals and is
	// the one to show although 150 has not expired yet.
	tab.Observe(ad("192.0.2.1", 51, 150))
	clk.add(3500 * time.Millisecond)
	tab.Observe(ad("192.0.2.2", 51, 100))
	if m := mustGroup(t, tab.Snapshot(), Key{51, IPv4}).Master; m == nil || m.Addr.String() != "192.0.2.2" {
		t.Errorf("after a crash: master %+v, want 192.0.2.2", m)
	}
	// Both fresh: the higher priority; equal priority: the higher address.
	tab.Observe(ad("192.0.2.1", 51, 150))
	if m := mustGroup(t, tab.Snapshot(), Key{51, IPv4}).Master; m == nil || m.Addr.String() != "192.0.2.1" {
		t.Errorf("both fresh: master %+v, want 192.0.2.1", m)
	}
	tab.Observe(ad("192.0.2.3", 51, 150))
	if m := mustGroup(t, tab.Snapshot(), Key{51, IPv4}).Master; m == nil || m.Addr.String() != "192.0.2.3" {
		t.Errorf("tie: master %+v, want 192.0.2.3", m)
	}
}

func TestTableConcurrent(t *testing.T) {
	tab := NewTable(nil, Limits{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				switch w {
				case 0, 1:
					tab.Observe(ad(fmt.Sprintf("192.0.2.%d", i%250+1), uint8(i%20+1), 100))
				case 2:
					_ = tab.Snapshot()
					tab.UpdateRx(map[Key]uint64{{1, IPv4}: uint64(i)})
				case 3:
					tab.SetLocal(Local{Addrs: addrs("192.0.2.1")})
				}
			}
		})
	}
	wg.Wait()
}
