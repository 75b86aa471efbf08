package kube

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the watcher's state:
//
//	ipfailover_kubernetes_up                  1 when the peer set follows the API, else 0
//	ipfailover_kubernetes_peer_changes_total  changes of the peer set
//
// Nothing is exported while the watcher is off (no RBAC, no owner): the
// series are absent when the features are off, and 0 means "on but the
// API is away".
type Collector struct {
	w               *Watcher
	up, peerChanges *prometheus.Desc
}

// NewCollector returns the collector of w.
func NewCollector(w *Watcher) *Collector {
	return &Collector{
		w: w,
		up: prometheus.NewDesc("ipfailover_kubernetes_up",
			"1 if the agent lists and watches its peer pods through the Kubernetes API; 0 while the API server is unreachable or refuses (the last known peers stay in use).",
			nil, nil),
		peerChanges: prometheus.NewDesc("ipfailover_kubernetes_peer_changes_total",
			"Changes of the peer set (host IPs of the agent's sibling pods) seen through the Kubernetes API; the first list counts one.",
			nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.peerChanges
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if off, _ := c.w.Off(); off {
		return
	}
	up := 0.0
	if c.w.Up() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(c.peerChanges, prometheus.CounterValue, float64(c.w.Changes()))
}
