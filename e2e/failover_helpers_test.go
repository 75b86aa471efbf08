package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/e2e/lab"
	"github.com/ipfailover/ipfailover/env"
)

// Helpers of the failover scenario suite (failover_*_test.go,
// placement_*_test.go).

// fastAdvert is the advert interval of scenarios whose point is not timing:
// VRRPv3 at 0.1 s keeps them quick.
const fastAdvert = 100 * time.Millisecond

// fastMasterDown is master-down at fastAdvert: 3 adverts plus the VRRPv3
// skew, which is below one advert interval.
const fastMasterDown = 3*fastAdvert + fastAdvert

// fast returns the environment of a quick scenario: 0.1 s adverts and
// immediate preemption (so placement is deterministic), plus extra.
func fast(extra map[string]string) map[string]string {
	m := map[string]string{
		"OPENSHIFT_HA_ADVERT_INTERVAL": "0.1",
		"OPENSHIFT_HA_PREEMPTION":      "preempt_delay 0",
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// startAgent starts `ipfailover run` on one node.
func startAgent(t *testing.T, l *lab.Lab, n *lab.Node, vips string, extra map[string]string) {
	t.Helper()
	if err := n.Start(lab.Spec{Argv: []string{agentBinary(t), "run"}, Env: agentEnv(l, vips, extra)}); err != nil {
		t.Fatal(err)
	}
}

// vipList parses a VIP list with the agent's own parser (env.ParseVIPs),
// so the scenarios expect exactly the VIPs the agent serves.
func vipList(s string) []netip.Addr {
	vips, err := env.ParseVIPs(s)
	if err != nil {
		panic("vipList: " + err.Error())
	}
	out := make([]netip.Addr, len(vips))
	for i, v := range vips {
		out[i] = v.Addr()
	}
	return out
}

// confInstances waits for the node's rendered keepalived.conf and parses it.
func confInstances(t *testing.T, n *lab.Node) []lab.ConfInstance {
	t.Helper()
	var ins []lab.ConfInstance
	err := lab.Poll(t.Context(), 15*time.Second, 50*time.Millisecond, func() error {
		b, err := n.ReadFile("/etc/keepalived/keepalived.conf")
		if err != nil {
			return err
		}
		if ins, err = lab.ParseInstances(b); err != nil {
			return err
		}
		if len(ins) == 0 {
			return fmt.Errorf("%s: no vrrp_instance in keepalived.conf yet", n.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ins
}

// priorityOf returns the node's rendered priority for the instance holding vip.
func priorityOf(t *testing.T, n *lab.Node, vip netip.Addr) int {
	t.Helper()
	for _, in := range confInstances(t, n) {
		if slices.Contains(in.VIPs, vip) {
			return in.Priority
		}
	}
	t.Fatalf("%s: no instance carries %s", n.Name, vip)
	return 0
}

// agentStatus is the part of the agent's /status document the scenarios read.
type agentStatus struct {
	Keepalived struct {
		Running bool `json:"running"`
		PID     int  `json:"pid"`
	} `json:"keepalived"`
	Config struct {
		Hash       string            `json:"hash"`
		LastResult string            `json:"last_result"`
		LastError  string            `json:"last_error"`
		Reloads    map[string]uint64 `json:"reloads"`
	} `json:"config"`
	Check *struct {
		OK       bool   `json:"ok"`
		Result   string `json:"result"`
		Timeouts uint64 `json:"timeouts"`
	} `json:"check"`
	Instances []struct {
		Name     string `json:"name"`
		VRID     int    `json:"vrid"`
		State    string `json:"state"`
		Priority int    `json:"priority"`
		Reason   string `json:"reason"`
	} `json:"instances"`
}

// statusPort is the agents' default metrics port for VRID offset 10.
const statusPort = 63010

// nodeStatus fetches the agent's /status on the given port.
func nodeStatus(t *testing.T, n *lab.Node, port int) (agentStatus, error) {
	var s agentStatus
	code, body, err := n.HTTPGet(t.Context(), fmt.Sprintf("http://127.0.0.1:%d/status", port), 2*time.Second)
	if err != nil {
		return s, err
	}
	if code != 200 {
		return s, fmt.Errorf("%s /status: HTTP %d: %s", n.Name, code, body)
	}
	if err := json.Unmarshal(body, &s); err != nil {
		return s, fmt.Errorf("%s /status: %w", n.Name, err)
	}
	return s, nil
}

// states returns the set of instance states a node reports, e.g. {FAULT}.
func (s agentStatus) states() []string {
	var out []string
	for _, in := range s.Instances {
		if !slices.Contains(out, in.State) {
			out = append(out, in.State)
		}
	}
	slices.Sort(out)
	return out
}

// waitStates polls the node's /status until every instance is in one of want.
func waitStates(t *testing.T, n *lab.Node, port int, timeout time.Duration, want ...string) {
	t.Helper()
	err := lab.Poll(t.Context(), timeout, 50*time.Millisecond, func() error {
		s, err := nodeStatus(t, n, port)
		if err != nil {
			return err
		}
		if len(s.Instances) == 0 {
			return fmt.Errorf("%s reports no instances", n.Name)
		}
		for _, in := range s.Instances {
			if !slices.Contains(want, in.State) {
				return fmt.Errorf("%s: instance %s is %s (%s), want one of %v", n.Name, in.Name, in.State, in.Reason, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeScript writes an executable script that keepalived's script security
// accepts: root-owned, mode 0755, in a directory nobody else can write.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // umask-proof
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// secureDir returns a fresh directory usable for check scripts (the
// test's temp dir is root-owned and 0700 under the sticky /tmp).
func secureDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// holdSampler samples the VIP placement in the background and records
// every stretch during which a VIP was on more than one node, or on none.
type holdSampler struct {
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	samples int
	errs    int
	dual    map[netip.Addr]*windows
	none    map[netip.Addr]*windows
	split   map[string]*windows // groups seen split over several nodes
	groups  map[string][]netip.Addr
}

// windows accumulates stretches of a condition between samples.
type windows struct {
	since   time.Time // start of the current stretch, zero when not in one
	total   time.Duration
	longest time.Duration
	count   int
}

func (w *windows) observe(on bool, at time.Time) {
	switch {
	case on && w.since.IsZero():
		w.since = at
		w.count++
	case !on && !w.since.IsZero():
		d := at.Sub(w.since)
		w.total += d
		w.longest = max(w.longest, d)
		w.since = time.Time{}
	}
}

func (w *windows) close(at time.Time) { w.observe(false, at) }

func (w *windows) String() string {
	return fmt.Sprintf("%d window(s), total %v, longest %v", w.count, w.total.Round(time.Millisecond), w.longest.Round(time.Millisecond))
}

// startHoldSampler samples every period. groups (may be nil) names sets of
// VIPs that must always be on the same node.
func startHoldSampler(l *lab.Lab, vips []netip.Addr, period time.Duration, groups map[string][]netip.Addr) *holdSampler {
	s := &holdSampler{stop: make(chan struct{}), done: make(chan struct{}),
		dual: map[netip.Addr]*windows{}, none: map[netip.Addr]*windows{}, split: map[string]*windows{}, groups: groups}
	for _, v := range vips {
		s.dual[v], s.none[v] = &windows{}, &windows{}
	}
	for g := range groups {
		s.split[g] = &windows{}
	}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			h, err := l.Holders(vips)
			at := time.Now()
			s.mu.Lock()
			if err != nil {
				s.errs++
			} else {
				s.samples++
				for _, v := range vips {
					s.dual[v].observe(len(h[v]) > 1, at)
					s.none[v].observe(len(h[v]) == 0, at)
				}
				for g, vs := range groups {
					holders := map[string]bool{}
					for _, v := range vs {
						for _, n := range h[v] {
							holders[n] = true
						}
					}
					s.split[g].observe(len(holders) > 1, at)
				}
			}
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and closes any open stretch.
func (s *holdSampler) Stop() {
	close(s.stop)
	<-s.done
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.dual {
		w.close(now)
	}
	for _, w := range s.none {
		w.close(now)
	}
	for _, w := range s.split {
		w.close(now)
	}
}

// dualTotal is the summed duration of dual-holder windows over all VIPs,
// and the longest single window.
func (s *holdSampler) dualTotal() (total, longest time.Duration, n int) {
	for _, w := range s.dual {
		total += w.total
		longest = max(longest, w.longest)
		n += w.count
	}
	return total, longest, n
}

// report logs every VIP with a dual-holder or no-holder window.
func (s *holdSampler) report(t *testing.T) {
	t.Helper()
	t.Logf("holder sampler: %d samples (%d failed)", s.samples, s.errs)
	vs := make([]netip.Addr, 0, len(s.dual))
	for v := range s.dual {
		vs = append(vs, v)
	}
	slices.SortFunc(vs, func(a, b netip.Addr) int { return a.Compare(b) })
	for _, v := range vs {
		if s.dual[v].count > 0 {
			t.Logf("  %s on two nodes: %s", v, s.dual[v])
		}
		if s.none[v].count > 0 {
			t.Logf("  %s on no node: %s", v, s.none[v])
		}
	}
	for g, w := range s.split {
		if w.count > 0 {
			t.Logf("  group %s split over nodes: %s", g, w)
		}
	}
}

// blockMulticast drops VRRP's multicast group on every node's INPUT, the way
// a firewall or CNI that blocks multicast would.
func blockMulticast(t *testing.T, l *lab.Lab) {
	t.Helper()
	for _, n := range l.Nodes {
		if _, err := n.Exec(t.Context(), "iptables", "-w", "5", "-A", "INPUT", "-d", "224.0.0.18", "-j", "DROP"); err != nil {
			t.Fatal(err)
		}
	}
}

// peersOf is every node's IPv4 address, comma-separated.
func peersOf(l *lab.Lab) string {
	var ps []string
	for _, n := range l.Nodes {
		ps = append(ps, n.IPv4.String())
	}
	return strings.Join(ps, ",")
}

// otherThan returns the lab's nodes except n.
func otherThan(l *lab.Lab, n *lab.Node) []*lab.Node {
	var out []*lab.Node
	for _, o := range l.Nodes {
		if o != n {
			out = append(out, o)
		}
	}
	return out
}

// logCount counts lines of the node's log containing substr.
func logCount(n *lab.Node, substr string) int {
	b, err := os.ReadFile(n.LogPath())
	if err != nil {
		return 0
	}
	return strings.Count(string(b), substr)
}
