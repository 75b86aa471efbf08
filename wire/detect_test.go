package wire

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// speaker is one advertiser in a simulated segment: it advertises every
// `every` from `from` up to and including `to`.
type speaker struct {
	src      string
	vrid     uint8 // 0 means 51
	prio     uint8
	vips     []string
	from, to time.Duration
	every    time.Duration // 0 means 1 s
	version  uint8         // 0 means 3
	auth     uint8
}

// ourInstance is the instance the detection tests check against: VRID 51
// over IPv4 with one VIP, advert_int 1, VRRPv3, on node 192.0.2.1.
var ourInstance = Instance{Name: "VI_1", VRID: 51, Family: IPv4, VIPs: addrs("192.0.2.100"), Interval: time.Second, Version: 3}

// simulate plays the speakers into a table with our instance and returns
// the snapshot at `end`.
func simulate(t *testing.T, in Instance, speakers []speaker, end time.Duration) Snapshot {
	t.Helper()
	return simulateLocal(t, Local{Addrs: addrs("192.0.2.1"), Instances: []Instance{in}}, speakers, end)
}

// simulateLocal is simulate with the whole Local given.
func simulateLocal(t *testing.T, local Local, speakers []speaker, end time.Duration) Snapshot {
	t.Helper()
	clk := newClock()
	start := clk.now()
	tab := NewTable(clk.now, Limits{})
	tab.SetLocal(local)
	type ev struct {
		at time.Duration
		a  *Advert
	}
	var evs []ev
	for _, s := range speakers {
		every := cmp.Or(s.every, time.Second)
		for at := s.from; at <= s.to; at += every {
			a := ad(s.src, cmp.Or(s.vrid, 51), s.prio, s.vips...)
			a.Interval, a.Version, a.AuthType = every, cmp.Or(s.version, 3), s.auth
			evs = append(evs, ev{at, a})
		}
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return cmp.Compare(a.at, b.at) })
	for _, e := range evs {
		clk.add(start.Add(e.at).Sub(clk.now()))
		tab.Observe(e.a)
	}
	clk.add(start.Add(end).Sub(clk.now()))
	return tab.Snapshot()
}

func summary(cs []Conflict) []string {
	var out []string
	for _, c := range cs {
		var srcs []string
		for _, s := range c.Sources {
			srcs = append(srcs, s.String())
		}
		out = append(out, fmt.Sprintf("%s %v %s [%s]", c.Kind, c.Key(), c.Instance, strings.Join(srcs, " ")))
	}
	return out
}

func TestDetect(t *testing.T) {
	const s = time.Second
	v2auth := ourInstance
	v2auth.Version, v2auth.AuthType = 2, 1
	fast := ourInstance
	fast.Interval = 100 * time.Millisecond
	us := speaker{src: "192.0.2.1", prio: 150, vips: []string{"192.0.2.100"}, from: 0, to: 10 * s}
	cases := []struct {
		name     string
		in       Instance
		speakers []speaker
		end      time.Duration
		want     []string
	}{
		{"we are master alone", ourInstance, []speaker{us}, 10 * s, nil},
		{"a peer is master with our VIPs", ourInstance,
			[]speaker{{src: "192.0.2.2", prio: 100, vips: []string{"192.0.2.100"}, to: 10 * s}}, 10 * s, nil},
		{"another configuration on our VRID", ourInstance,
			[]speaker{{src: "192.0.2.9", prio: 100, vips: []string{"192.0.2.200"}, to: 10 * s}}, 10 * s,
			[]string{"collision 51/ipv4 VI_1 [192.0.2.9]"}},
		{"another configuration and us both master", ourInstance,
			[]speaker{us, {src: "192.0.2.9", prio: 100, vips: []string{"192.0.2.200"}, from: 500 * time.Millisecond, to: 10 * s}}, 10 * s,
			[]string{"collision 51/ipv4 VI_1 [192.0.2.9]", "split_brain 51/ipv4 VI_1 [192.0.2.1 192.0.2.9]"}},
		{"same VIPs in another order", Instance{Name: "VI_1", VRID: 51, Family: IPv4, VIPs: addrs("192.0.2.101", "192.0.2.100"), Interval: s, Version: 3},
			[]speaker{{src: "192.0.2.2", prio: 100, vips: []string{"192.0.2.100", "192.0.2.101"}, to: 10 * s}}, 10 * s, nil},
		{"authentication differs", v2auth,
			[]speaker{{src: "192.0.2.2", prio: 100, vips: []string{"192.0.2.100"}, to: 10 * s, version: 2}}, 10 * s,
			[]string{"collision 51/ipv4 VI_1 [192.0.2.2]"}},
		{"interval differs", ourInstance,
			[]speaker{{src: "192.0.2.2", prio: 100, vips: []string{"192.0.2.100"}, to: 10 * s, every: 2 * s}}, 10 * s,
			[]string{"mismatch 51/ipv4 VI_1 [192.0.2.2]"}},
		{"centisecond interval matches", fast,
			[]speaker{{src: "192.0.2.2", prio: 100, vips: []string{"192.0.2.100"}, to: 10 * s, every: 100 * time.Millisecond}}, 10 * s, nil},
		{"version differs", ourInstance,
			[]speaker{{src: "192.0.2.2", prio: 100, vips: []string{"192.0.2.100"}, to: 10 * s, version: 2}}, 10 * s,
			[]string{"mismatch 51/ipv4 VI_1 [192.0.2.2]"}},
		{"a peer and us both master", ourInstance,
			[]speaker{us, {src: "192.0.2.2", prio: 100, vips: []string{"192.0.2.100"}, from: 300 * time.Millisecond, to: 10 * s}}, 10 * s,
			[]string{"split_brain 51/ipv4 VI_1 [192.0.2.1 192.0.2.2]"}},
		{"split brain needs one interval of overlap", ourInstance,
			[]speaker{{src: "192.0.2.1", prio: 150, vips: []string{"192.0.2.100"}, to: 10 * s},
				{src: "192.0.2.2", prio: 100, vips: []string{"192.0.2.100"}, from: 9500 * time.Millisecond, to: 10 * s}}, 10 * s, nil},
		{"failover after a crash", ourInstance,
			[]speaker{{src: "192.0.2.2", prio: 150, vips: []string{"192.0.2.100"}, to: 5 * s},
				{src: "192.0.2.1", prio: 100, vips: []string{"192.0.2.100"}, from: 8600 * time.Millisecond, to: 10 * s}}, 10 * s, nil},
		{"preemption with one crossing advert", ourInstance,
			[]speaker{{src: "192.0.2.2", prio: 100, vips: []string{"192.0.2.100"}, to: 5 * s},
				{src: "192.0.2.1", prio: 150, vips: []string{"192.0.2.100"}, from: 4900 * time.Millisecond, to: 10 * s}}, 10 * s, nil},
		{"a master stepping down", ourInstance,
			[]speaker{us, {src: "192.0.2.2", prio: 0, vips: []string{"192.0.2.100"}, from: 2 * s, to: 3 * s}}, 3 * s, nil},
		{"split brain on someone else's VRID", ourInstance,
			[]speaker{{src: "192.0.2.5", vrid: 9, prio: 100, to: 10 * s}, {src: "192.0.2.6", vrid: 9, prio: 100, from: 100 * time.Millisecond, to: 10 * s}}, 10 * s,
			[]string{"split_brain 9/ipv4  [192.0.2.5 192.0.2.6]"}},
		{"collision, mismatch and split brain from one source", ourInstance,
			[]speaker{us, {src: "192.0.2.9", prio: 200, vips: []string{"192.0.2.200"}, from: 100 * time.Millisecond, to: 10 * s, version: 2}}, 10 * s,
			[]string{"collision 51/ipv4 VI_1 [192.0.2.9]", "split_brain 51/ipv4 VI_1 [192.0.2.1 192.0.2.9]", "mismatch 51/ipv4 VI_1 [192.0.2.9]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap := simulate(t, c.in, c.speakers, c.end)
			if got := summary(snap.Conflicts); !slices.Equal(got, c.want) {
				t.Errorf("conflicts\n got %q\nwant %q\n%v", got, c.want, snap.Conflicts)
			}
			if got := summary(Detect(snap)); !slices.Equal(got, c.want) {
				t.Errorf("Detect is not what Snapshot reported: %q", got)
			}
		})
	}
}

func TestDetectDetail(t *testing.T) {
	snap := simulate(t, ourInstance, []speaker{
		{src: "192.0.2.1", prio: 150, vips: []string{"192.0.2.100"}, to: 5 * time.Second},
		{src: "192.0.2.8", prio: 100, vips: []string{"192.0.2.200"}, from: 10 * time.Millisecond, to: 5 * time.Second, every: 2 * time.Second},
		{src: "192.0.2.9", prio: 0, vips: []string{"192.0.2.201"}, from: 20 * time.Millisecond, to: 5 * time.Second},
	}, 5*time.Second)
	want := []string{
		"collision on VRID 51/ipv4 (VI_1): 192.0.2.8 advertises VIPs [192.0.2.200], ours [192.0.2.100] (and 1 more)",
		"split_brain on VRID 51/ipv4 (VI_1): 2 masters at once: 192.0.2.1 (priority 150, ours), 192.0.2.8 (priority 100)",
		"mismatch on VRID 51/ipv4 (VI_1): 192.0.2.8 advertises advert interval 2s, ours 1s",
	}
	var got []string
	for _, c := range snap.Conflicts {
		got = append(got, c.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("details\n got %q\nwant %q", got, want)
	}
}

func TestDetectFirewall(t *testing.T) {
	clk := newClock()
	tab := NewTable(clk.now, Limits{})
	tab.SetLocal(Local{Addrs: addrs("192.0.2.1"), Instances: []Instance{ourInstance}})
	k := ourInstance.Key()
	tab.UpdateRx(map[Key]uint64{k: 7})
	for range 5 {
		clk.add(time.Second)
		tab.Observe(ad("192.0.2.2", 51, 200, "192.0.2.100"))
	}
	tab.UpdateRx(map[Key]uint64{k: 7})
	s := tab.Snapshot()
	if got, want := summary(s.Conflicts), []string{"firewall 51/ipv4 VI_1 [192.0.2.2]"}; !slices.Equal(got, want) {
		t.Fatalf("conflicts %q, want %q", got, want)
	}
	if d := s.Conflicts[0].Detail; !strings.Contains(d, "5 adverts from other nodes") || !strings.Contains(d, "stayed at 7") {
		t.Errorf("detail %q", d)
	}
	tab.UpdateRx(map[Key]uint64{k: 8})
	if cs := tab.Snapshot().Conflicts; cs != nil {
		t.Errorf("after the counter moved: %v", cs)
	}
}

func TestTracker(t *testing.T) {
	c := func(kind Kind, vrid uint8, srcs ...string) Conflict {
		var a []netip.Addr
		for _, s := range srcs {
			a = append(a, netip.MustParseAddr(s))
		}
		return Conflict{Kind: kind, VRID: vrid, Family: IPv4, Sources: a, Detail: "d"}
	}
	steps := []struct {
		in   []Conflict
		want []string
	}{
		{nil, nil},
		{[]Conflict{c(Collision, 51, "192.0.2.9")}, []string{"raised collision 51"}},
		{[]Conflict{c(Collision, 51, "192.0.2.9")}, nil},
		{[]Conflict{c(Collision, 51, "192.0.2.9"), c(SplitBrain, 51, "192.0.2.1", "192.0.2.9"), c(Firewall, 9)},
			[]string{"raised firewall 9", "raised split_brain 51"}},
		{[]Conflict{c(Collision, 51, "192.0.2.9", "192.0.2.10"), c(SplitBrain, 51, "192.0.2.1", "192.0.2.9")},
			[]string{"cleared firewall 9", "changed collision 51"}},
		{[]Conflict{c(SplitBrain, 51, "192.0.2.1", "192.0.2.9"), c(SplitBrain, 51, "192.0.2.1")},
			[]string{"cleared collision 51"}},
		{nil, []string{"cleared split_brain 51"}},
	}
	var tr Tracker
	for i, st := range steps {
		var got []string
		for _, ch := range tr.Update(st.in) {
			got = append(got, fmt.Sprintf("%s %s %d", ch.Event, ch.Conflict.Kind, ch.Conflict.VRID))
		}
		if !slices.Equal(got, st.want) {
			t.Errorf("step %d: %q, want %q", i, got, st.want)
		}
	}
}
