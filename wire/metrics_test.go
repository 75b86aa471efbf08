package wire

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fixedSnapshot Snapshot

func (f fixedSnapshot) Snapshot() Snapshot { return Snapshot(f) }

func TestCollector(t *testing.T) {
	snap := simulate(t, ourInstance, []speaker{
		{src: "192.0.2.1", prio: 150, vips: []string{"192.0.2.100"}, to: 5 * time.Second},
		{src: "192.0.2.9", prio: 100, vips: []string{"192.0.2.200"}, from: 10 * time.Millisecond, to: 5 * time.Second},
		{src: "192.0.2.5", vrid: 9, prio: 100, to: 2 * time.Second},
	}, 5*time.Second)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(fixedSnapshot(snap)))
	want := `
# HELP ipfailover_segment_adverts_total VRRP adverts seen on the segment for the VRID and family, ours included, since the agent started.
# TYPE ipfailover_segment_adverts_total counter
ipfailover_segment_adverts_total{family="ipv4",vrid="51"} 11
ipfailover_segment_adverts_total{family="ipv4",vrid="9"} 3
# HELP ipfailover_segment_advertisers Distinct sources heard advertising as master (non-zero priority, not expired) on the VRID and family; more than 1 for long is a split brain.
# TYPE ipfailover_segment_advertisers gauge
ipfailover_segment_advertisers{family="ipv4",vrid="51"} 2
ipfailover_segment_advertisers{family="ipv4",vrid="9"} 1
# HELP ipfailover_vrid_conflict 1 while the segment shows the conflict on the VRID and family: collision (other VIPs or auth), split_brain (several masters), mismatch (other interval or version), firewall (keepalived receives nothing while others advertise).
# TYPE ipfailover_vrid_conflict gauge
ipfailover_vrid_conflict{family="ipv4",kind="collision",vrid="51"} 1
ipfailover_vrid_conflict{family="ipv4",kind="firewall",vrid="51"} 0
ipfailover_vrid_conflict{family="ipv4",kind="mismatch",vrid="51"} 0
ipfailover_vrid_conflict{family="ipv4",kind="split_brain",vrid="51"} 1
ipfailover_vrid_conflict{family="ipv4",kind="split_brain",vrid="9"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) != 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestCollectorLiveTable(t *testing.T) {
	tab := NewTable(nil, Limits{})
	tab.SetLocal(Local{Instances: []Instance{ourInstance}})
	c := NewCollector(tab)
	// Our instance has series before anything is heard.
	if n := testutil.CollectAndCount(c); n != 1+1+len(Kinds) {
		t.Errorf("%d series for a silent instance", n)
	}
	tab.Observe(ad("192.0.2.2", 51, 100, "192.0.2.100"))
	if got := testutil.ToFloat64(prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) {
		m := make(chan prometheus.Metric, 16)
		c.Collect(m)
		close(m)
		for x := range m {
			if strings.Contains(x.Desc().String(), "ipfailover_segment_adverts_total") {
				ch <- x
			}
		}
	})); got != 1 {
		t.Errorf("adverts_total %v after one advert", got)
	}
}
