package lab

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestClientTrack(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 12, 0, 1, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	c := &ClientTrack{VIP: netip.MustParseAddr("192.0.2.201")}
	steps := []struct {
		ms   int
		node string
		want string
	}{
		{0, "", ""}, // failures before the first answer are not news
		{50, "n1", "12:00:01.050 VIP 192.0.2.201 served by n1"},
		{100, "n1", ""},
		{150, "", "12:00:01.150 VIP 192.0.2.201: no answer (was n1)"},
		{200, "", ""},
		{1010, "n2", "12:00:01.010 VIP 192.0.2.201 moved n1 -> n2 (gap 0.91 s)"},
		{1060, "", "12:00:02.060 VIP 192.0.2.201: no answer (was n2)"},
		{1210, "n2", "12:00:02.210 VIP 192.0.2.201 back on n2 (gap 0.20 s)"},
	}
	for _, s := range steps {
		var err error
		if s.node == "" {
			err = errors.New("timeout")
		}
		got := c.Observe(at(s.ms), s.node, err)
		want := s.want
		// The expected stamps are written for readability; rebuild them.
		if want != "" {
			want = stamp(at(s.ms)) + want[len("12:00:01.050"):]
		}
		if got != want {
			t.Errorf("at +%dms %q: got %q, want %q", s.ms, s.node, got, want)
		}
	}
}

func TestStateChanges(t *testing.T) {
	v1, v2, v3 := netip.MustParseAddr("192.0.2.200"), netip.MustParseAddr("192.0.2.201"), netip.MustParseAddr("192.0.2.202")
	at := time.Date(2025, 1, 2, 12, 0, 1, 234e6, time.UTC)
	got := StateChanges(at, "n1",
		map[netip.Addr]string{v1: "MASTER 243", v2: "BACKUP 100", v3: "MASTER 150"},
		map[netip.Addr]string{v1: "FAULT 0", v2: "BACKUP 99", v3: "FAULT 0"})
	want := []string{"12:00:01.234 n1: MASTER -> FAULT for 192.0.2.200, 192.0.2.202"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
	got = StateChanges(at, "n2", map[netip.Addr]string{v1: "MASTER 1"}, nil)
	if len(got) != 1 || !strings.HasSuffix(got[0], "n2: MASTER -> - for 192.0.2.200") {
		t.Errorf("agent gone: got %q", got)
	}
}

func TestLabViewRenderAndServed(t *testing.T) {
	v1, v2 := netip.MustParseAddr("192.0.2.200"), netip.MustParseAddr("192.0.2.201")
	view := LabView{
		Title: "lab", Now: time.Date(2025, 1, 2, 12, 0, 1, 0, time.UTC),
		Nodes: []NodeView{
			{Name: "n1", Addr: netip.MustParseAddr("192.0.2.11"), LinkUp: true, Service: true, Agent: "running",
				States: map[netip.Addr]string{v1: "MASTER 243", v2: "BACKUP 100"}},
			{Name: "n2", Addr: netip.MustParseAddr("192.0.2.12"), LinkUp: false, Service: true, Agent: "stopped"},
		},
		VIPs: []VIPView{
			{VIP: v1, VRID: 11, Holders: []string{"n1"}, Client: "n1"},
			{VIP: v2, VRID: 12, Holders: nil, ClientE: "timeout"},
		},
		Events: []string{"12:00:01.000 VIP 192.0.2.200 served by n1"},
		Help:   []string{"keys: x quit"},
	}
	out := view.Render()
	for _, want := range []string{
		"VIP            VRID holder    n1          n2          client",
		"192.0.2.200    11   n1        MASTER 243  -           n1",
		"192.0.2.201    12   none      BACKUP 100  -           FAIL",
		"n2   192.0.2.12      link DOWN  service up    agent stopped",
		"  12:00:01.000 VIP 192.0.2.200 served by n1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("render lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colours without Color:\n%q", out)
	}
	if ok, why := view.Served(); ok || !strings.Contains(why, "192.0.2.201 held by 0 nodes") {
		t.Errorf("Served() = %v, %q", ok, why)
	}
	view.VIPs = view.VIPs[:1]
	if ok, why := view.Served(); !ok {
		t.Errorf("Served() = false, %q", why)
	}
}
