package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/e2e/lab"
)

// The failover timing report (`make bench-failover`): every timed scenario,
// several runs at each advert interval, summarised as a table that is
// printed and written to docs/failover-timing.md. It takes several minutes,
// so it only runs with IPFAILOVER_BENCH=1. Knobs:
//
//	IPFAILOVER_BENCH_RUNS       runs per scenario and interval (default 5)
//	IPFAILOVER_BENCH_ADVERTS    advert intervals in seconds (default "1,0.1")
//	IPFAILOVER_BENCH_SCENARIOS  subset, e.g. "graceful,node" (default all:
//	                            graceful, node, service, reload)
//	IPFAILOVER_BENCH_PROBE      client probe period (default 5ms; timeout 2 periods, at least 10ms)
//	IPFAILOVER_BENCH_OUT        output file (default ../docs/failover-timing.md;
//	                            "-" writes none)

// benchCheckInterval is the health check period of the timed labs: the
// service-failure bound is this times fall (1) plus the skew.
const benchCheckInterval = time.Second

// benchVIPs are the lab's VIPs: six instances on three nodes.
const benchVIPs = "192.0.2.200-205"

// timedScenario injects one kind of fault.
type timedScenario struct {
	key, name string
	formula   string
	target    func(advert time.Duration) time.Duration // 0: "no lost probes"
	bound     func(prio int, advert time.Duration) time.Duration
	inject    func(t *testing.T, l *lab.Lab, n *lab.Node, stopped chan<- error)
	restore   func(t *testing.T, l *lab.Lab, n *lab.Node, stopped <-chan error)
}

func timedScenarios() []timedScenario {
	skew := func(prio int, a time.Duration) time.Duration { return lab.Skew(lab.VRRPVersion(a), prio, a) }
	return []timedScenario{
		{
			key: "graceful", name: "graceful stop (SIGTERM to the master's agent)", formula: "skew",
			target: func(a time.Duration) time.Duration {
				if a < time.Second {
					return 100 * time.Millisecond
				}
				return 700 * time.Millisecond
			},
			bound: skew,
			inject: func(t *testing.T, l *lab.Lab, n *lab.Node, stopped chan<- error) {
				go func() { stopped <- <-stopAsync(n, 10*time.Second) }()
			},
			restore: func(t *testing.T, l *lab.Lab, n *lab.Node, stopped <-chan error) {
				select {
				case err := <-stopped:
					if err != nil {
						t.Errorf("agent on %s: %v", n.Name, err)
					}
				case <-time.After(15 * time.Second):
					t.Fatalf("agent on %s did not exit within 15s of SIGTERM", n.Name)
				}
				if err := n.Restart(); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			key: "node", name: "node loss (link cut)", formula: "3 × advert + skew",
			target: func(a time.Duration) time.Duration {
				if a < time.Second {
					return 400 * time.Millisecond
				}
				return 3700 * time.Millisecond
			},
			bound: lab.MasterDown,
			inject: func(t *testing.T, l *lab.Lab, n *lab.Node, _ chan<- error) {
				if err := n.LinkDown(t.Context()); err != nil {
					t.Fatal(err)
				}
			},
			restore: func(t *testing.T, l *lab.Lab, n *lab.Node, _ <-chan error) {
				if err := n.LinkUp(t.Context()); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			key: "service", name: "service failure (watched TCP port closed)", formula: "check interval × fall + skew",
			target: func(time.Duration) time.Duration { return benchCheckInterval + 700*time.Millisecond },
			bound:  func(prio int, a time.Duration) time.Duration { return benchCheckInterval + skew(prio, a) },
			inject: func(t *testing.T, l *lab.Lab, n *lab.Node, _ chan<- error) { n.StopService() },
			restore: func(t *testing.T, l *lab.Lab, n *lab.Node, _ <-chan error) {
				if err := n.StartService(); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
}

func TestFailoverTiming(t *testing.T) {
	if os.Getenv("IPFAILOVER_BENCH") != "1" {
		t.Skip("the timing report takes minutes: run it with IPFAILOVER_BENCH=1 (make bench-failover)")
	}
	runs := benchInt(t, "IPFAILOVER_BENCH_RUNS", 5)
	probe := benchDuration(t, "IPFAILOVER_BENCH_PROBE", 5*time.Millisecond)
	var adverts []time.Duration
	for _, s := range strings.Split(envOr("IPFAILOVER_BENCH_ADVERTS", "1,0.1"), ",") {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || f <= 0 {
			t.Fatalf("IPFAILOVER_BENCH_ADVERTS=%q: %q is not a positive number of seconds", os.Getenv("IPFAILOVER_BENCH_ADVERTS"), s)
		}
		adverts = append(adverts, time.Duration(f*float64(time.Second)).Round(10*time.Millisecond))
	}
	want := strings.Split(envOr("IPFAILOVER_BENCH_SCENARIOS", "graceful,node,service,reload"), ",")

	var rows []lab.TimingRow
	for _, sc := range timedScenarios() {
		if !slices.Contains(want, sc.key) {
			continue
		}
		for _, a := range adverts {
			t.Run(fmt.Sprintf("%s/advert=%v", sc.key, a), func(t *testing.T) {
				rows = append(rows, runTimed(t, sc, a, runs, probe))
			})
		}
	}
	if slices.Contains(want, "reload") {
		for _, a := range adverts {
			t.Run(fmt.Sprintf("reload/advert=%v", a), func(t *testing.T) {
				rows = append(rows, runReload(t, a, runs))
			})
		}
	}
	report := benchReport(rows, runs, probe)
	fmt.Println(report)
	if out := envOr("IPFAILOVER_BENCH_OUT", "../docs/failover-timing.md"); out != "-" {
		// Sections written by hand (the wire view's cost) follow the
		// generated part and are kept.
		if old, err := os.ReadFile(out); err == nil {
			if i := strings.Index(string(old), handWrittenMarker); i >= 0 {
				report += "\n" + string(old[i:])
			}
		}
		if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", out)
	}
	for _, r := range rows {
		if !r.Met() {
			t.Logf("target missed: %s at advert %v", r.Scenario, r.Advert)
		}
	}
}

// benchReport is the file's content: the table and how it was measured.
// handWrittenMarker starts the part of docs/failover-timing.md that the
// report keeps as it is.
const handWrittenMarker = "## Cost of the wire view"

func benchReport(rows []lab.TimingRow, runs int, probe time.Duration) string {
	var b strings.Builder
	b.WriteString("# Failover timing\n\n")
	fmt.Fprintf(&b, "Measured by `make bench-failover` on %s: %d CPUs, %s, keepalived %s; %d runs per row.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), kernelRelease(), keepalivedVersion(), runs)
	b.WriteString(lab.FormatTimingTable(rows))
	fmt.Fprintf(&b, `
How it is measured: three nodes in network namespaces on one bridge, each running `+"`ipfailover run`"+`
with the VIPs %s (six VRRP instances), OPENSHIFT_HA_REPLICA_COUNT=3, preempt_delay 0 and a TCP
health check every %v (fall 1). The node holding VIPs is faulted (in turn, when several do);
every VIP it held is probed from a client namespace with a TCP connect every %v (timeout %v).

- *client gap*: the longest time between two successful probes of a moved VIP (worst VIP of the run).
- *new master*: from the fault injection to every moved VIP configured on another node
  (netlink view, polled every 5 ms).
- *protocol bound*: keepalived's formula for the node that took over, with its priority:
  skew = (256 − priority)/256 s for VRRPv2 (advert 1 s), (256 − priority) × advert/256 for VRRPv3.
- *reload*: the check script is swapped (atomic symlink swap, as a ConfigMap update does), the
  template changes so that keepalived really reloads, and every agent gets SIGHUP; all six VIPs are
  probed every %v and a probe counts as lost when it is not answered within %v.
`, benchVIPs, benchCheckInterval, probe, max(2*probe, 10*time.Millisecond), reloadProbe, reloadProbeTimeout)
	return b.String()
}

// benchLab starts the lab of the timing runs.
func benchLab(t *testing.T, advert time.Duration, extra map[string]string) (*lab.Lab, []netip.Addr) {
	l := newLab(t, 3)
	env := map[string]string{
		"OPENSHIFT_HA_PREEMPTION":      "preempt_delay 0",
		"OPENSHIFT_HA_CHECK_INTERVAL":  strconv.Itoa(int(benchCheckInterval / time.Second)),
		"OPENSHIFT_HA_ADVERT_INTERVAL": strconv.FormatFloat(advert.Seconds(), 'f', -1, 64),
	}
	for k, v := range extra {
		env[k] = v
	}
	startAgents(t, l, benchVIPs, env)
	return l, addrRange(200, 205)
}

// settle waits until every VIP has exactly one holder for longer than a
// master-down interval and answers the client from it.
func settle(t *testing.T, l *lab.Lab, vips []netip.Addr, advert time.Duration) lab.Holding {
	h := waitStable(t, l, vips, 30*time.Second, lab.MasterDown(1, advert)+300*time.Millisecond, exactlyOne)
	// After a healed partition the node that stayed master sends no
	// gratuitous ARP until vrrp_garp_master_refresh, so the client can
	// take seconds to reach it again: wait for that, and say how long.
	start := time.Now()
	for v, holders := range h {
		target := netip.AddrPortFrom(v, lab.DefaultServicePort)
		err := lab.Poll(t.Context(), 20*time.Second, 50*time.Millisecond, func() error {
			got, err := l.Probe(t.Context(), target, 300*time.Millisecond)
			if err == nil && got != holders[0] {
				err = fmt.Errorf("answered by %s, held by %s", got, holders[0])
			}
			return err
		})
		if err != nil {
			t.Fatalf("VIP %s held by %v: %v", v, holders, err)
		}
	}
	if waited := time.Since(start); waited > time.Second {
		t.Logf("NOTE: the client reached every VIP only %v after the placement settled (stale neighbour entry until the next gratuitous ARP)", waited.Round(time.Millisecond))
	}
	return h
}

func runTimed(t *testing.T, sc timedScenario, advert time.Duration, runs int, probe time.Duration) lab.TimingRow {
	row := lab.TimingRow{Scenario: sc.name, Advert: advert, Target: sc.target(advert), BoundFormula: sc.formula}
	l, vips := benchLab(t, advert, nil)
	for i := range runs {
		h := settle(t, l, vips, advert)
		// Fault the holders in turn, so that every node's priorities count.
		var holders []*lab.Node
		for _, n := range l.Nodes {
			if len(h.HeldBy(n.Name)) > 0 {
				holders = append(holders, n)
			}
		}
		victim := holders[i%len(holders)]
		moving := h.HeldBy(victim.Name)
		probers := benchProbers(t, l, moving, victim.Name, probe, max(2*probe, 10*time.Millisecond))

		stopped := make(chan error, 1)
		t0 := time.Now()
		sc.inject(t, l, victim, stopped)
		var takeover time.Duration
		var after lab.Holding
		err := lab.Poll(t.Context(), lab.MasterDown(1, advert)+5*time.Second, 5*time.Millisecond, func() error {
			h, err := l.Holders(vips)
			seen := time.Since(t0)
			if err != nil {
				return err
			}
			if !heldElsewhere(h, moving, victim.Name) {
				return fmt.Errorf("VIPs %v not taken over from %s: %v", moving, victim.Name, h)
			}
			takeover, after = seen, h
			return nil
		})
		if err != nil {
			stopProbers(probers)
			t.Fatalf("run %d: %v", i+1, err)
		}
		traces := stopProbersAfterMove(t, probers, t0, victim.Name)
		run := lab.TimingRun{Takeover: takeover}
		for _, tr := range traces {
			run.Gap = max(run.Gap, tr.LongestGap().Duration())
			run.Lost += tr.Failures()
			run.Probes += len(tr.Samples)
		}
		for _, v := range moving {
			prio := newMasterPriority(t, l, after, v, victim.Name)
			run.Bound = max(run.Bound, sc.bound(prio, advert))
			if run.Prio == 0 || prio < run.Prio {
				run.Prio = prio
			}
		}
		t.Logf("run %d: %s faulted (%v): new master after %v (bound %v), client gap %v, %d of %d probes lost",
			i+1, victim.Name, moving, takeover.Round(time.Millisecond), run.Bound.Round(time.Millisecond),
			run.Gap.Round(time.Millisecond), run.Lost, run.Probes)
		row.Runs = append(row.Runs, run)
		sc.restore(t, l, victim, stopped)
	}
	return row
}

// newMasterPriority is the priority of the node that took vip over, from its
// agent's /status; 1 (the largest skew) when it cannot be read.
func newMasterPriority(t *testing.T, l *lab.Lab, h lab.Holding, vip netip.Addr, old string) int {
	for _, name := range h[vip] {
		if name == old {
			continue
		}
		st, err := l.Node(name).Status(t.Context(), lab.StatusPort, 2*time.Second)
		if err != nil {
			t.Logf("status of %s: %v", name, err)
			return 1
		}
		if in, ok := lab.InstanceFor(st, vip.String()); ok && in.Priority > 0 {
			return in.Priority
		}
	}
	return 1
}

// benchProbers starts one prober per VIP and waits until each has had an
// answer from the expected node (any node when from is ""), so a trace
// never starts with the outage.
func benchProbers(t *testing.T, l *lab.Lab, vips []netip.Addr, from string, period, timeout time.Duration) []*lab.Prober {
	var ps []*lab.Prober
	for _, v := range vips {
		ps = append(ps, l.StartProber(netip.AddrPortFrom(v, lab.DefaultServicePort), period, timeout))
	}
	start := time.Now()
	err := lab.Poll(t.Context(), 3*time.Second, 10*time.Millisecond, func() error {
		for _, p := range ps {
			tr := p.Trace()
			if _, ok := tr.FirstAnswerFrom(start, func(n string) bool { return from == "" || n == from }); !ok {
				return fmt.Errorf("no answer for %s from %q yet", tr.Target, from)
			}
		}
		return nil
	})
	if err != nil {
		stopProbers(ps)
		t.Fatal(err)
	}
	return ps
}

// runReload swaps the check script and changes the template on every node,
// then SIGHUPs every agent, while probing every VIP: no probe may fail.
// The reload probes follow the issue (every 20 ms); a probe is lost when
// its connection is not answered within reloadProbeTimeout, which only a
// real interruption does, not a busy CPU.
const (
	reloadProbe        = 20 * time.Millisecond
	reloadProbeTimeout = 500 * time.Millisecond
)

func runReload(t *testing.T, advert time.Duration, runs int) lab.TimingRow {
	row := lab.TimingRow{Scenario: "reload (check script swapped + SIGHUP)", Advert: advert}
	dir := t.TempDir()
	for i, v := range []string{"..v1", "..v2"} {
		if err := os.Mkdir(filepath.Join(dir, v), 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("#!/bin/sh\n# check script version %d\nexit 0\n", i+1)
		if err := os.WriteFile(filepath.Join(dir, v, "check.sh"), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, v, "check.sh"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustSymlink(t, "..v1", filepath.Join(dir, "..data"))
	mustSymlink(t, "..data/check.sh", filepath.Join(dir, "check.sh"))
	tmplBody, err := os.ReadFile("../templates/keepalived.conf.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	tmpl := filepath.Join(dir, "keepalived.conf.tmpl")
	if err := os.WriteFile(tmpl, tmplBody, 0o644); err != nil {
		t.Fatal(err)
	}
	l, vips := benchLab(t, advert, map[string]string{
		"OPENSHIFT_HA_CHECK_SCRIPT":        filepath.Join(dir, "check.sh"),
		"OPENSHIFT_HA_KEEPALIVED_TEMPLATE": tmpl,
	})
	for i := range runs {
		h := settle(t, l, vips, advert)
		before := map[string]int{}
		for _, n := range l.Nodes {
			before[n.Name] = countInLog(n, "sent SIGHUP to keepalived")
		}
		probers := benchProbers(t, l, vips, "", reloadProbe, reloadProbeTimeout)

		// The ConfigMap update: a new template and a new script version,
		// each swapped in atomically, then the SIGHUP.
		next := filepath.Join(dir, "keepalived.conf.tmpl.new")
		body := append([]byte(fmt.Sprintf("# bench reload %d\n", i+1)), tmplBody...)
		if err := os.WriteFile(next, body, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(next, tmpl); err != nil {
			t.Fatal(err)
		}
		mustSymlink(t, []string{"..v2", "..v1"}[i%2], filepath.Join(dir, "..data.new"))
		if err := os.Rename(filepath.Join(dir, "..data.new"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		for _, n := range l.Nodes {
			if err := n.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
		}
		err := lab.Poll(t.Context(), 10*time.Second, 20*time.Millisecond, func() error {
			for _, n := range l.Nodes {
				if countInLog(n, "sent SIGHUP to keepalived") <= before[n.Name] {
					return fmt.Errorf("%s has not reloaded keepalived", n.Name)
				}
			}
			return nil
		})
		if err != nil {
			stopProbers(probers)
			t.Fatalf("run %d: %v", i+1, err)
		}
		// Observe for longer than a master-down interval: a backup that
		// missed adverts during the reload would take over within it.
		deadline := time.Now().Add(lab.MasterDown(1, advert) + 500*time.Millisecond)
		for time.Now().Before(deadline) {
			h2, err := l.Holders(vips)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vips {
				if !slices.Equal(h2[v], h[v]) {
					t.Errorf("run %d: VIP %s moved during the reload: %v -> %v", i+1, v, h[v], h2[v])
				}
			}
			time.Sleep(20 * time.Millisecond) // sampling period, not a wait for a condition
		}
		run := lab.TimingRun{}
		for _, tr := range stopProbers(probers) {
			run.Gap = max(run.Gap, tr.LongestGap().Duration())
			run.Lost += tr.Failures()
			run.Probes += len(tr.Samples)
			for _, s := range tr.Samples {
				if !s.OK() {
					t.Logf("run %d: lost probe at %s: %v", i+1, s.At.Format("15:04:05.000"), s.Err)
				}
			}
		}
		t.Logf("run %d: every agent reloaded keepalived; longest client gap %v, %d of %d probes lost",
			i+1, run.Gap.Round(time.Millisecond), run.Lost, run.Probes)
		row.Runs = append(row.Runs, run)
	}
	return row
}

func mustSymlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// countInLog counts the lines of the node's log that contain s.
func countInLog(n *lab.Node, s string) int {
	b, err := os.ReadFile(n.LogPath())
	if err != nil {
		return 0
	}
	return strings.Count(string(b), s)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func benchInt(t *testing.T, name string, def int) int {
	v, err := strconv.Atoi(envOr(name, strconv.Itoa(def)))
	if err != nil || v < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, os.Getenv(name))
	}
	return v
}

func benchDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v, err := time.ParseDuration(envOr(name, def.String()))
	if err != nil || v <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 10ms", name, os.Getenv(name))
	}
	return v
}

func kernelRelease() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "Linux"
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return "Linux " + b.String()
}

func keepalivedVersion() string {
	out, err := exec.Command("keepalived", "--version").CombinedOutput()
	if err != nil {
		return "(unknown)"
	}
	if f := strings.Fields(string(out)); len(f) > 1 {
		return f[1]
	}
	return "(unknown)"
}
