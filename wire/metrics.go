package wire

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Snapshotter is what the Collector reads at scrape time; *Table is one.
type Snapshotter interface {
	Snapshot() Snapshot
}

// Collector exports the segment view as Prometheus metrics, computed from a
// fresh snapshot at every scrape:
//
//	ipfailover_segment_advertisers{vrid,family}      gauge: distinct sources heard as master
//	ipfailover_vrid_conflict{vrid,family,kind}       gauge: 1 while the conflict holds, else 0
//	ipfailover_segment_adverts_total{vrid,family}    counter: adverts seen since the agent started
//
// Series exist for every VRID and family heard and for each of our
// instances (at most 510 of each). Conflict series cover all kinds for our
// instances and split_brain for other VRIDs, since the other kinds compare
// with our configuration.
type Collector struct {
	src Snapshotter
	// mu serialises scrapes so that concurrent ones do not each sweep and
	// copy the table at once.
	mu                           sync.Mutex
	advertisers, conflict, total *prometheus.Desc
}

// NewCollector returns a collector reading src at every scrape. Register it
// with the agent's registry.
func NewCollector(src Snapshotter) *Collector {
	vf := []string{"vrid", "family"}
	return &Collector{
		src: src,
		advertisers: prometheus.NewDesc("ipfailover_segment_advertisers",
			"Distinct sources heard advertising as master (non-zero priority, not expired) on the VRID and family; more than 1 for long is a split brain.",
			vf, nil),
		conflict: prometheus.NewDesc("ipfailover_vrid_conflict",
			"1 while the segment shows the conflict on the VRID and family: collision (other VIPs or auth), split_brain (several masters), mismatch (other interval or version), firewall (keepalived receives nothing while others advertise).",
			[]string{"vrid", "family", "kind"}, nil),
		total: prometheus.NewDesc("ipfailover_segment_adverts_total",
			"VRRP adverts seen on the segment for the VRID and family, ours included, since the agent started.",
			vf, nil),
	}
}

// Describe sends the three descriptors.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.advertisers
	ch <- c.conflict
	ch <- c.total
}

// Collect takes a snapshot and sends every series.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	s := c.src.Snapshot()
	c.mu.Unlock()
	type id struct {
		k    Key
		kind Kind
	}
	active := map[id]bool{}
	for _, cf := range s.Conflicts {
		active[id{cf.Key(), cf.Kind}] = true
	}
	for _, g := range s.Groups {
		vrid, fam := strconv.Itoa(int(g.VRID)), g.Family.String()
		ch <- prometheus.MustNewConstMetric(c.advertisers, prometheus.GaugeValue, float64(g.Masters), vrid, fam)
		ch <- prometheus.MustNewConstMetric(c.total, prometheus.CounterValue, float64(g.Adverts), vrid, fam)
		for _, kind := range Kinds {
			if !g.Ours && kind != SplitBrain {
				continue
			}
			v := 0.0
			if active[id{g.Key(), kind}] {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.conflict, prometheus.GaugeValue, v, vrid, fam, string(kind))
		}
	}
}
