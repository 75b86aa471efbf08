package monitor

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/vrrpstate"
	"github.com/ipfailover/ipfailover/wire"
)

// segmentSource is a fixed segment: another configuration's VRID 51.
type segmentSource struct{}

func (segmentSource) Snapshot() wire.Snapshot {
	return wire.Snapshot{Interface: "lo", Groups: []wire.Group{{VRID: 51, Family: wire.IPv4, Masters: 1, Adverts: 3}}}
}

// TestSegmentWiring: the wire view's snapshot reaches /status and /segment,
// its collector /metrics, its reasons /readyz, and every dump's counters
// reach OnStats.
func TestSegmentWiring(t *testing.T) {
	var got map[string]vrrpstate.Stats
	r := newRig(t, Options{
		Segment: segmentSource{},
		Blocked: func() []string { return []string{"VRID 11/ipv4 (ipf_VIP_1): mastered by another configuration"} },
		OnStats: func(s map[string]vrrpstate.Stats) { got = s },
	}, func(c *env.Config) { c.MetricsAddress = "127.0.0.1:0" })
	m := r.m
	st := m.Status()
	if st.Segment == nil || len(st.Segment.Groups) != 1 || len(st.Blocked) != 1 || st.Ready {
		t.Errorf("status: segment %+v blocked %v ready %v", st.Segment, st.Blocked, st.Ready)
	}
	base := "http://" + m.server.Addr()
	for path, want := range map[string]string{
		"/readyz":  "held back by the rollout guard",
		"/segment": `"vrid": 51`,
		"/status":  `"blocked": [`,
		"/metrics": `ipfailover_segment_advertisers{family="ipv4",vrid="51"} 1`,
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), want) {
			t.Errorf("%s lacks %q:\n%s", path, want, body)
		}
	}
	m.onDump([]vrrpstate.DumpEntry{{Dumped: vrrpstate.Dumped{Name: "ipf_VIP_1"}, Stats: vrrpstate.Stats{AdvertRcvd: 4}}}, time.Now())
	if got["ipf_VIP_1"].AdvertRcvd != 4 {
		t.Errorf("OnStats got %+v", got)
	}
}
