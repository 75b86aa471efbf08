package wire

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestGuard(t *testing.T) {
	const s = time.Second
	cases := []struct {
		name     string
		speakers []speaker
		end      time.Duration
		start    bool
		reason   string // a substring of the reason
	}{
		{"nothing heard", nil, 5 * s, true, "VRID 51/ipv4 (VI_1): no foreign master"},
		{"listened too short", nil, 3 * s, false, "listened to the segment for 3s of 4s"},
		{"a peer with our VIPs", []speaker{{src: "192.0.2.2", prio: 100, vips: []string{"192.0.2.100"}, to: 5 * s}}, 5 * s,
			true, "master 192.0.2.2 advertises our VIPs"},
		{"another configuration", []speaker{{src: "192.0.2.9", prio: 100, vips: []string{"192.0.2.200", "192.0.2.201"}, to: 5 * s}}, 5 * s,
			false, "mastered by another configuration: 192.0.2.9 (priority 100) advertises [192.0.2.200 192.0.2.201], ours [192.0.2.100]"},
		{"another configuration stepped down", []speaker{{src: "192.0.2.9", prio: 0, vips: []string{"192.0.2.200"}, from: 5 * s, to: 5 * s}}, 5 * s,
			true, "no foreign master"},
		{"another configuration gone", []speaker{{src: "192.0.2.9", prio: 100, vips: []string{"192.0.2.200"}, to: 1 * s}}, 6 * s,
			true, "no foreign master"},
		{"ourselves with other VIPs", []speaker{{src: "192.0.2.1", prio: 100, vips: []string{"192.0.2.200"}, to: 5 * s}}, 5 * s,
			true, "no foreign master"},
		// A rolling update that regroups the VIPs: the old version's
		// master shares a VIP with our new list.
		{"this configuration in another version", []speaker{{src: "192.0.2.2", prio: 100, vips: []string{"192.0.2.99", "192.0.2.100"}, to: 5 * s}}, 5 * s,
			true, "taken for this configuration in another version"},
		{"a known peer with disjoint VIPs", []speaker{{src: "192.0.2.3", prio: 100, vips: []string{"192.0.2.99"}, to: 5 * s}}, 5 * s,
			true, "taken for this configuration in another version"},
		{"a peer version and another configuration", []speaker{
			{src: "192.0.2.3", prio: 100, vips: []string{"192.0.2.99"}, to: 5 * s},
			{src: "192.0.2.9", prio: 100, vips: []string{"192.0.2.200"}, to: 5 * s},
		}, 5 * s, false, "mastered by another configuration: 192.0.2.9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			local := Local{Addrs: addrs("192.0.2.1"), Peers: addrs("192.0.2.3"), Instances: []Instance{ourInstance}}
			vs := Guard(simulateLocal(t, local, c.speakers, c.end))
			if len(vs) != 1 {
				t.Fatalf("%d verdicts", len(vs))
			}
			v := vs[0]
			if v.Start != c.start || !strings.Contains(v.Reason, c.reason) || v.Key() != ourInstance.Key() || v.Instance != "VI_1" {
				t.Errorf("verdict %+v, want start %v with %q", v, c.start, c.reason)
			}
			if blocked := Blocked(vs); (len(blocked) == 0) != c.start {
				t.Errorf("Blocked = %q", blocked)
			}
		})
	}
}

func TestListenWindow(t *testing.T) {
	if got := ListenWindow(nil); got != time.Second {
		t.Errorf("no instances: %v", got)
	}
	ins := []Instance{{Interval: 100 * time.Millisecond}, {Interval: 2 * time.Second}}
	if got := ListenWindow(ins); got != 7*time.Second {
		t.Errorf("window %v, want 7s", got)
	}
}

func TestBlockedKeepsOrder(t *testing.T) {
	vs := []Verdict{{Reason: "a"}, {Start: true, Reason: "b"}, {Reason: "c"}}
	if got := Blocked(vs); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("Blocked = %q", got)
	}
}
