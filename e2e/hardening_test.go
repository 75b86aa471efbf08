package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/e2e/lab"
)

// Hardening scenarios: faults that are not a failover of the happy path
// (a flood on the status port, a stopped keepalived, a deleted multicast
// rule, a second agent, a VIP that is a node address, SIGTERM during
// start-up). docs/operations.md ("Faults and what the agent does") quotes
// the times these tests log.

// defaultStatusPort is the agent's default status/metrics port
// (OPENSHIFT_HA_METRICS_ADDRESS unset: 63000 plus the default VRID offset).
var defaultStatusPort = fmt.Sprint(statusPort)

// serverMaxConns is the agent's status server's connection limit
// (statusapi.DefaultMaxConns).
const serverMaxConns = 32

// nodeGet fetches path from the node's agent on its default status port with
// a fresh connection made inside the node's network namespace.
func nodeGet(t *testing.T, n *lab.Node, path string, timeout time.Duration) (int, string, error) {
	t.Helper()
	code, body, err := n.HTTPGet(t.Context(), "http://127.0.0.1:"+defaultStatusPort+path, timeout)
	return code, string(body), err
}

// TestConnectionFlood: 200 idle connections to one node's status port do not
// take the agent down: its open files stay bounded (at most 32 connections
// are kept open; a new one displaces the oldest silent one), a fresh
// /healthz is answered within 1 s, and a keepalived SIGKILLed during the
// flood is restarted, with every VIP on exactly one node afterwards.
func TestConnectionFlood(t *testing.T) {
	l := newLab(t, 2)
	vips := addrRange(200, 201)
	startAgents(t, l, "192.0.2.200-201", nil)
	h := waitStable(t, l, vips, 20*time.Second, masterDown+time.Second, exactlyOne)
	m := master(t, l, h)
	agentPID := m.PID1()
	main := agentMain(t, m)
	kp := waitKeepalived(t, m, 0, 5*time.Second)
	if code, body, err := nodeGet(t, m, "/healthz", 2*time.Second); err != nil || code != 200 {
		t.Fatalf("%s /healthz before the flood: %d %q %v", m.Name, code, body, err)
	}
	fdsBefore, err := lab.OpenFDs(main.PID)
	if err != nil {
		t.Fatal(err)
	}

	// Sample the agent's open files for the whole flood.
	var fdMu sync.Mutex
	fdMax, fdSamples := fdsBefore, 0
	var fdErr error
	stopFDs := make(chan struct{})
	fdDone := make(chan struct{})
	go func() {
		defer close(fdDone)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			n, err := lab.OpenFDs(main.PID)
			fdMu.Lock()
			if err != nil {
				fdErr = err
			} else {
				fdMax, fdSamples = max(fdMax, n), fdSamples+1
			}
			fdMu.Unlock()
			select {
			case <-stopFDs:
				return
			case <-tick.C:
			}
		}
	}()

	const flood = 200
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	t0 := time.Now()
	for i := range flood {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		c, err := m.DialTCP(ctx, "127.0.0.1:"+defaultStatusPort)
		cancel()
		if err != nil {
			t.Fatalf("flood connection %d of %d: %v", i+1, flood, err)
		}
		conns = append(conns, c)
	}
	t.Logf("%d idle connections to %s:%s opened in %v", flood, m.Name, defaultStatusPort, time.Since(t0).Round(time.Millisecond))

	// A fresh client arriving during the flood displaces a silent
	// connection and is served at once.
	const bound = time.Second
	start := time.Now()
	code, body, err := m.HTTPGet(context.Background(), "http://127.0.0.1:"+defaultStatusPort+"/healthz", bound+5*time.Second)
	took := time.Since(start)
	if err != nil || code != 200 {
		t.Errorf("fresh /healthz during a flood of %d idle connections: %d %q %v after %v", flood, code, body, err, took.Round(time.Millisecond))
	} else {
		t.Logf("fresh /healthz during a flood of %d idle connections answered 200 after %v", flood, took.Round(time.Millisecond))
	}
	if took > bound {
		t.Errorf("fresh /healthz took %v during a flood of %d idle connections, want ≤ %v", took.Round(time.Millisecond), flood, bound)
	}

	// keepalived dies while the flood is held: the agent must still
	// notice and restart it.
	trace := traceHolders(l, vips, 20*time.Millisecond)
	kill(t, kp.PID, syscall.SIGKILL)
	killedAt := time.Now()
	np := waitKeepalived(t, m, kp.PID, 15*time.Second)
	t.Logf("keepalived on %s: PID %d SIGKILLed during the flood, PID %d running %v later", m.Name, kp.PID, np.PID, time.Since(killedAt).Round(time.Millisecond))
	if !m.Running() || m.PID1() != agentPID {
		t.Fatalf("the agent on %s did not survive the flood and keepalived's death", m.Name)
	}
	h = waitStable(t, l, vips, 20*time.Second, masterDown+time.Second, exactlyOne)
	single, summary := trace.Stop(killedAt)
	t.Logf("placement %v after the kill, flood still open; every VIP on exactly one node for good %v after the kill (%s)", h, single.Round(time.Millisecond), summary)

	close(stopFDs)
	<-fdDone
	fdMu.Lock()
	defer fdMu.Unlock()
	if fdErr != nil {
		t.Errorf("reading the agent's open files: %v", fdErr)
	}
	t.Logf("agent on %s (host PID %d): %d open files before the flood, at most %d during it (%d samples)", m.Name, main.PID, fdsBefore, fdMax, fdSamples)
	if fdMax >= 100 {
		t.Errorf("agent on %s had %d open files during a flood of %d connections, want < 100 (at most %d served at once)", m.Name, fdMax, flood, serverMaxConns)
	}
	if code, body, err := nodeGet(t, m, "/healthz", 2*time.Second); err != nil || code != 200 {
		t.Errorf("%s /healthz after the flood drained: %d %q %v", m.Name, code, body, err)
	}
}

// agentMain returns the node's agent process proper: PID 1 is the agent's
// tini-like init, which runs the agent as its only direct child.
func agentMain(t *testing.T, n *lab.Node) lab.Proc {
	t.Helper()
	var out lab.Proc
	err := lab.Poll(t.Context(), 5*time.Second, 20*time.Millisecond, func() error {
		procs, err := n.Procs()
		if err != nil {
			return err
		}
		for _, p := range procs {
			if p.PPID == n.PID1() && p.Comm == "ipfailover" && !p.Zombie() {
				out = p
				return nil
			}
		}
		return fmt.Errorf("no agent process under the init (PID %d): %s", n.PID1(), lab.FormatProcs(procs))
	})
	if err != nil {
		t.Fatalf("%s: %v", n.Name, err)
	}
	return out
}

// holdTrace samples the VIP placement in the background and says when it
// last was not "every VIP on exactly one node".
type holdTrace struct {
	stop, done chan struct{}
	mu         sync.Mutex
	lastBad    time.Time // last sample with a VIP on no node or on two
	firstBad   time.Time
	bad        string // that sample's placement
	samples    int
}

func traceHolders(l *lab.Lab, vips []netip.Addr, period time.Duration) *holdTrace {
	h := &holdTrace{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			hh, err := l.Holders(vips)
			at := time.Now()
			if err == nil {
				h.mu.Lock()
				h.samples++
				if hh.ExactlyOne() != nil {
					if h.firstBad.IsZero() {
						h.firstBad = at
					}
					h.lastBad, h.bad = at, hh.String()
				}
				h.mu.Unlock()
			}
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

// Stop ends sampling and returns how long after t0 the placement was
// single-holder for good (0 if it never stopped being so), and a summary.
func (h *holdTrace) Stop(t0 time.Time) (time.Duration, string) {
	close(h.stop)
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lastBad.IsZero() {
		return 0, fmt.Sprintf("%d samples, every VIP always on exactly one node", h.samples)
	}
	return h.lastBad.Sub(t0), fmt.Sprintf("%d samples, not single-holder from %v to %v after the fault (last: %s)",
		h.samples, h.firstBad.Sub(t0).Round(time.Millisecond), h.lastBad.Sub(t0).Round(time.Millisecond), h.bad)
}

// vrrpChild returns the VRRP child of the node's keepalived daemon.
func vrrpChild(t *testing.T, n *lab.Node) (parent, child lab.Proc) {
	t.Helper()
	parent = waitKeepalived(t, n, 0, 5*time.Second)
	procs, err := n.Procs()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if p.Comm == "keepalived" && p.PPID == parent.PID && !p.Zombie() {
			return parent, p
		}
	}
	t.Fatalf("no VRRP child of keepalived %d on %s: %s", parent.PID, n.Name, lab.FormatProcs(procs))
	return parent, lab.Proc{}
}

// nsPID returns the PID a host process has in its own (the node's) PID
// namespace, from the NSpid line of /proc/PID/status.
func nsPID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			var n int
			if _, err := fmt.Sscan(f[len(f)-1], &n); err != nil {
				t.Fatalf("NSpid of %d: %q: %v", pid, line, err)
			}
			return n
		}
	}
	t.Fatalf("no NSpid line in /proc/%d/status", pid)
	return 0
}

// procGone reports whether a host PID no longer exists (reaped).
func procGone(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return errors.Is(err, os.ErrNotExist)
}

// TestStoppedKeepalivedReplaced: the master's keepalived VRRP child is
// SIGSTOPped; it still holds its VIPs but sends no adverts, so the peer
// takes them as well. The agent kills the stopped keepalived's whole tree,
// removes its VIPs and starts a new one after HangTimeout (3 adverts + 1 s):
// the VIP is on exactly one node again soon after, and on two nodes for
// less than one master-down interval.
func TestStoppedKeepalivedReplaced(t *testing.T) {
	l := newLab(t, 2)
	vips := addrRange(200, 201)
	startAgents(t, l, "192.0.2.200-201", nil)
	h := waitStable(t, l, vips, 20*time.Second, masterDown+time.Second, exactlyOne)
	m := master(t, l, h)
	agentPID := m.PID1()
	parent, child := vrrpChild(t, m)
	childNS := nsPID(t, child.PID) // the agent logs PIDs of its own namespace

	sampler := startHoldSampler(l, vips, 20*time.Millisecond, nil)
	kill(t, child.PID, syscall.SIGSTOP)
	stoppedAt := time.Now()
	// Never leave a stopped process behind, whatever happens below.
	defer syscall.Kill(child.PID, syscall.SIGCONT)

	var single time.Duration
	var last lab.Holding
	err := lab.Poll(t.Context(), 15*time.Second, 20*time.Millisecond, func() error {
		if !procGone(child.PID) || !procGone(parent.PID) {
			return fmt.Errorf("stopped keepalived (parent %d, VRRP child %d) is still there", parent.PID, child.PID)
		}
		hh, err := l.Holders(vips)
		if err != nil {
			return err
		}
		last = hh
		if err := hh.ExactlyOne(); err != nil {
			return err
		}
		single = time.Since(stoppedAt)
		return nil
	})
	if err != nil {
		sampler.Stop()
		t.Fatalf("after SIGSTOP of %s's VRRP child %d: %v (last placement %v)", m.Name, child.PID, err, last)
	}
	// Keep sampling through one more master-down interval: the new
	// keepalived must not produce a second holder while it settles.
	waitStable(t, l, vips, 20*time.Second, masterDown+time.Second, exactlyOne)
	sampler.Stop()
	sampler.report(t)
	_, longest, windows := sampler.dualTotal()

	np := waitKeepalived(t, m, parent.PID, 5*time.Second)
	hang := 3*advert + time.Second
	t.Logf("SIGSTOP of keepalived's VRRP child %d on %s: stopped process gone and every VIP on exactly one node after %v; new keepalived PID %d; %d dual-holder window(s), longest %v",
		child.PID, m.Name, single.Round(time.Millisecond), np.PID, windows, longest.Round(time.Millisecond))
	if !m.Running() || m.PID1() != agentPID {
		t.Fatalf("the agent on %s did not survive replacing keepalived", m.Name)
	}
	if bound := hang + masterDown; single > bound {
		t.Errorf("single holder again after %v, want ≤ %v (HangTimeout %v + master-down %v)", single.Round(time.Millisecond), bound, hang, masterDown)
	}
	if longest > masterDown {
		t.Errorf("a VIP was on two nodes for %v at a stretch, want ≤ one master-down interval (%v)", longest.Round(time.Millisecond), masterDown)
	}
	log := m.LogTail(400)
	re := regexp.MustCompile(`level=ERROR msg="keepalived is hung; killing its process tree and restarting it"[^\n]* pid=` + fmt.Sprint(childNS) + ` state=T `)
	if !re.MatchString(log) {
		t.Errorf("%s's log has no ERROR line naming the stopped VRRP child (PID %d in the node) in state T", m.Name, childNS)
	}
	probeAll(t, l, waitStable(t, l, vips, 5*time.Second, 0, exactlyOne))
}

// vrrpTagged lists the node's INPUT rules that carry the agent's tag for
// configuration name (iptables -S form).
func vrrpTagged(t *testing.T, n *lab.Node, name string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, rules, err := n.IPTables(ctx, "iptables", "INPUT")
	if err != nil {
		t.Fatal(fmt.Errorf("iptables on %s: %w", n.Name, err))
	}
	var out []string
	for _, r := range rules {
		if strings.Contains(r, `--comment "ipfailover `+name+` vrrp"`) {
			out = append(out, r)
		}
	}
	return out
}

// TestVIPEqualsNodeAddress: a VIP that is one of the node's addresses (its
// primary one, or a secondary one) is refused with exit code 2 before
// anything changes: the message names OPENSHIFT_HA_VIRTUAL_IPS and the
// address, both node addresses stay, no keepalived ran and no multicast
// rule was inserted.
func TestVIPEqualsNodeAddress(t *testing.T) {
	l := newLab(t, 1)
	n := l.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	second := netip.MustParsePrefix("192.0.2.50/24")
	if out, err := n.Exec(ctx, "ip", "addr", "add", second.String(), "dev", lab.Interface); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	primary := netip.PrefixFrom(n.IPv4, 24)
	for _, own := range []netip.Prefix{primary, second} {
		vips := "192.0.2.200," + own.Addr().String()
		before := logSize(n)
		startAgent(t, l, n, vips, nil)
		code, err := n.Wait(30 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		out := logSince(n, before)
		if code != 2 {
			t.Errorf("VIPs %q: exit code %d, want 2\n%s", vips, code, out)
		}
		if !regexp.MustCompile(`OPENSHIFT_HA_VIRTUAL_IPS\W.*` + regexp.QuoteMeta(own.Addr().String()) + `\b`).MatchString(out) {
			t.Errorf("VIPs %q: the output does not name OPENSHIFT_HA_VIRTUAL_IPS and %s:\n%s", vips, own.Addr(), out)
		}
		if strings.Contains(out, "started keepalived") || strings.Contains(out, "removed VIPs left by a previous run") {
			t.Errorf("VIPs %q: keepalived was started or addresses were removed before the refusal:\n%s", vips, out)
		}
		as, err := n.Addrs()
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []netip.Prefix{primary, second} {
			if !slices.Contains(as, want) {
				t.Errorf("VIPs %q: node address %s is gone: %v", vips, want, as)
			}
		}
		if slices.ContainsFunc(as, func(p netip.Prefix) bool { return p.Addr() == netip.MustParseAddr("192.0.2.200") }) {
			t.Errorf("VIPs %q: 192.0.2.200 was configured: %v", vips, as)
		}
		if rules := vrrpRules(t, n); len(rules) != 0 {
			t.Errorf("VIPs %q: multicast rules inserted: %q", vips, rules)
		}
		t.Logf("VIPs %q: exit %d, node addresses intact (%v), no rule, no keepalived; message: %s", vips, code, as, firstMatch(out, "OPENSHIFT_HA_VIRTUAL_IPS"))
	}
}

// logSize is the current size of the node's log, to read a run's part.
func logSize(n *lab.Node) int64 {
	st, err := os.Stat(n.LogPath())
	if err != nil {
		return 0
	}
	return st.Size()
}

// logSince returns the node's log from byte offset off on.
func logSince(n *lab.Node, off int64) string {
	b, err := os.ReadFile(n.LogPath())
	if err != nil || int64(len(b)) < off {
		return ""
	}
	return string(b[off:])
}

// firstMatch is the first line of s containing substr.
func firstMatch(s, substr string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, substr) {
			return line
		}
	}
	return ""
}

// restoredMetric matches the rule-restoration counter of the IPv4 rule in
// INPUT and captures its value.
var restoredMetric = regexp.MustCompile(`(?m)^ipfailover_multicast_rule_restored_total\{chain="INPUT",family="ipv4"\} (\S+)$`)

// TestMulticastRuleRestored: with an INPUT policy of DROP, someone deletes
// one node's tagged multicast accept rule, so that node stops hearing its
// peer's adverts. The agent puts the rule back within its 2 s read-back
// interval, first in the chain, logs one WARN line and counts it in
// ipfailover_multicast_rule_restored_total; since that is shorter than
// master-down (3 adverts + skew at the default 1 s), no VIP is ever on
// two nodes.
func TestMulticastRuleRestored(t *testing.T) {
	l := newLab(t, 2)
	vips := addrRange(200, 201)
	for _, n := range l.Nodes {
		dropPolicy(t, n)
	}
	startAgents(t, l, "192.0.2.200-201", nil)
	waitStable(t, l, vips, 20*time.Second, masterDown+time.Second, exactlyOne)
	n := l.Nodes[0]
	const warn = `level=WARN msg="multicast accept rule was not in place; inserted it again at the top of the chain"`
	metric := func() (string, error) {
		code, body, err := nodeGet(t, n, "/metrics", 2*time.Second)
		if err != nil {
			return "", err
		}
		if code != 200 {
			return "", fmt.Errorf("/metrics: HTTP %d", code)
		}
		m := restoredMetric.FindStringSubmatch(body)
		if m == nil {
			return "", fmt.Errorf("/metrics has no %s line", restoredMetric)
		}
		return m[1], nil
	}
	var rule string
	if err := lab.Poll(t.Context(), 5*time.Second, 100*time.Millisecond, func() error {
		rules := vrrpTagged(t, n, "e2e")
		if len(rules) != 1 {
			return fmt.Errorf("tagged rules %q, want one", rules)
		}
		rule = rules[0]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if v, err := metric(); err != nil || v != "0" {
		t.Fatalf("before the deletion: restored_total = %q, %v; want 0", v, err)
	}
	if c := logCount(n, warn); c != 0 {
		t.Fatalf("%d restoration WARN lines before the deletion", c)
	}

	// Delete it the way an operator or a firewall reload would.
	sampler := startHoldSampler(l, vips, 20*time.Millisecond, nil)
	args := append([]string{"-w", "5", "-D", "INPUT"}, splitRule(rule)...)
	if out, err := n.Exec(t.Context(), "iptables", args...); err != nil {
		sampler.Stop()
		t.Fatalf("delete %q: %v\n%s", rule, err, out)
	}
	deletedAt := time.Now()
	if got := vrrpTagged(t, n, "e2e"); len(got) != 0 {
		t.Fatalf("after deleting it: tagged rules %q", got)
	}
	var back time.Duration
	if err := lab.Poll(t.Context(), 5*time.Second, 50*time.Millisecond, func() error {
		rules := vrrpTagged(t, n, "e2e")
		if len(rules) != 1 {
			return fmt.Errorf("tagged rules %q, want one", rules)
		}
		back = time.Since(deletedAt)
		return nil
	}); err != nil {
		t.Fatalf("rule not restored: %v", err)
	}
	_, all, err := n.IPTables(t.Context(), "iptables", "INPUT")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 || !strings.Contains(all[0], `"ipfailover e2e vrrp"`) {
		t.Errorf("restored rule is not first in INPUT: %q", all)
	}
	var value string
	var seen time.Duration
	if err := lab.Poll(t.Context(), 3*time.Second, 100*time.Millisecond, func() error {
		v, err := metric()
		if err != nil {
			return err
		}
		if value = v; v != "1" {
			return fmt.Errorf("restored_total = %s", v)
		}
		seen = time.Since(deletedAt)
		return nil
	}); err != nil {
		t.Errorf("ipfailover_multicast_rule_restored_total{chain=\"INPUT\",family=\"ipv4\"}: %v, want 1", err)
	}
	if c := logCount(n, warn); c != 1 {
		t.Errorf("%d restoration WARN lines, want 1:\n%s", c, n.LogTail(30))
	}
	t.Logf("tagged rule back %v after its deletion, first in INPUT; metric %s after %v; WARN: %s",
		back.Round(time.Millisecond), value, seen.Round(time.Millisecond), firstMatch(n.LogTail(100), "multicast accept rule was not in place"))
	// The agent's read-back interval is 2 s; the rest is margin for a
	// loaded machine.
	if back > 5*time.Second {
		t.Errorf("rule back after %v, want ≤ 5 s", back)
	}
	// Longer than master-down after the deletion: a node that missed the
	// adverts for too long would have made itself a second master.
	waitStable(t, l, vips, 20*time.Second, masterDown+time.Second, exactlyOne)
	sampler.Stop()
	sampler.report(t)
	if _, longest, windows := sampler.dualTotal(); windows > 0 {
		t.Errorf("with %s's rule deleted for %v, a VIP was on two nodes: %d window(s), longest %v", n.Name, back.Round(time.Millisecond), windows, longest.Round(time.Millisecond))
	}
}

// dropPolicy sets the node's INPUT policy to DROP, with the test's own
// accepts (loopback for the health check and the status port, replies, the
// name service) in a chain of their own, as TestMulticastRule does: only
// the agent's rule then lets VRRP adverts in.
func dropPolicy(t *testing.T, n *lab.Node) {
	t.Helper()
	for _, args := range [][]string{
		{"-N", "E2E"},
		{"-A", "E2E", "-i", "lo", "-j", "ACCEPT"},
		{"-A", "E2E", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
		{"-A", "E2E", "-p", "tcp", "--dport", fmt.Sprint(lab.DefaultServicePort), "-j", "ACCEPT"},
		{"-A", "INPUT", "-j", "E2E"},
		{"-P", "INPUT", "DROP"},
	} {
		if out, err := n.Exec(t.Context(), "iptables", append([]string{"-w", "5"}, args...)...); err != nil {
			t.Fatalf("%s: iptables %q: %v\n%s", n.Name, args, err, out)
		}
	}
}

// splitRule splits an `iptables -S` rule into arguments, keeping a quoted
// comment as one argument without its quotes.
func splitRule(rule string) []string {
	var out []string
	for rule != "" {
		rule = strings.TrimLeft(rule, " ")
		if strings.HasPrefix(rule, `"`) {
			end := strings.Index(rule[1:], `"`)
			if end < 0 {
				return append(out, rule[1:])
			}
			out = append(out, rule[1:1+end])
			rule = rule[2+end:]
			continue
		}
		f, rest, _ := strings.Cut(rule, " ")
		if f != "" {
			out = append(out, f)
		}
		rule = rest
	}
	return out
}

// TestSecondAgentRefused: with an agent running and holding its VIPs, a
// second agent of the same configuration started in the same node context
// (its mount, network and PID namespaces, so the same /run) exits 2 with a
// message naming OPENSHIFT_HA_CONFIG_NAME, before touching anything: the
// first agent's VIPs, keepalived and rule stay, and it keeps running.
func TestSecondAgentRefused(t *testing.T) {
	l := newLab(t, 1)
	n := l.Nodes[0]
	vips := addrRange(200, 201)
	startAgents(t, l, "192.0.2.200-201", fast(nil))
	kp := waitKeepalived(t, n, 0, 15*time.Second)
	waitStable(t, l, vips, 20*time.Second, 300*time.Millisecond, exactlyOne)
	agentPID := n.PID1()
	first := nsPID(t, agentMain(t, n).PID) // what the lock file records
	rulesBefore := vrrpTagged(t, n, "e2e")
	if len(rulesBefore) != 1 {
		t.Fatalf("tagged rules before: %q, want one", rulesBefore)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	env := append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, agentEnv(l, "192.0.2.200-201", fast(nil))...)
	cmd, err := n.Enter(ctx, env, agentBinary(t), "run")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("second agent: %v\n%s", err, out.String())
	}
	if code != 2 {
		t.Errorf("second agent: exit code %d, want 2\n%s", code, out.String())
	}
	msg := out.String()
	if !strings.Contains(msg, "OPENSHIFT_HA_CONFIG_NAME") || !strings.Contains(msg, "already runs") ||
		!strings.Contains(msg, fmt.Sprintf("(pid %d)", first)) {
		t.Errorf("second agent's message does not say that agent pid %d already runs this configuration and name OPENSHIFT_HA_CONFIG_NAME:\n%s", first, msg)
	}
	for _, bad := range []string{"started keepalived", "removed VIPs", "multicast accept rule in place"} {
		if strings.Contains(msg, bad) {
			t.Errorf("second agent changed the node (%q):\n%s", bad, msg)
		}
	}
	t.Logf("second agent exited %d after %v: %s", code, took.Round(time.Millisecond), firstMatch(msg, "already runs"))

	// The first agent is untouched: same PID 1, same keepalived, VIPs
	// still on the node for longer than master-down, one rule, healthy.
	h := waitStable(t, l, vips, 10*time.Second, fastMasterDown+time.Second, exactlyOne)
	if got := h.HeldBy(n.Name); len(got) != len(vips) {
		t.Errorf("after the second agent: %s holds %v, want all of %v", n.Name, got, vips)
	}
	if !n.Running() || n.PID1() != agentPID {
		t.Fatalf("the first agent is gone after the second one was refused")
	}
	if now, err := n.Keepalived(); err != nil || now.PID != kp.PID {
		t.Errorf("first agent's keepalived: %v %v, want the same PID %d", now.PID, err, kp.PID)
	}
	if rules := vrrpTagged(t, n, "e2e"); !slices.Equal(rules, rulesBefore) {
		t.Errorf("tagged rules %q, want %q as before", rules, rulesBefore)
	}
	if code, body, err := nodeGet(t, n, "/healthz", 2*time.Second); err != nil || code != 200 {
		t.Errorf("first agent /healthz: %d %q %v", code, body, err)
	}
}

// TestSIGTERMDuringStartup: SIGTERM at a few points of the agent's
// start-up ends it with exit code 0, leaving no VIP and no keepalived. The
// offsets count from the agent's first log line ("starting ipfailover"),
// which it writes a few statements before it subscribes to SIGTERM; a
// SIGTERM in the first milliseconds after the exec, before the Go runtime
// and the agent's init have handlers, is outside this test (see the report
// in docs/operations.md, "Faults and what the agent does"). Each run logs
// how far start-up got. The multicast rule, once inserted, stays, as after
// any graceful stop (only `ipfailover cleanup` removes it); it is never
// duplicated.
func TestSIGTERMDuringStartup(t *testing.T) {
	l := newLab(t, 1)
	n := l.Nodes[0]
	vips := addrRange(200, 201)
	baseline, err := n.Addrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, delay := range []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 150 * time.Millisecond, 400 * time.Millisecond} {
		before := logSize(n)
		startAgent(t, l, n, "192.0.2.200-201", nil)
		if err := lab.Poll(t.Context(), 10*time.Second, time.Millisecond, func() error {
			if !strings.Contains(logSince(n, before), `msg="starting ipfailover"`) {
				return errors.New("the agent has not logged its start")
			}
			return nil
		}); err != nil {
			t.Fatalf("delay %v: %v\n%s", delay, err, logSince(n, before))
		}
		time.Sleep(delay) // a deliberate offset into start-up, not a wait for a condition
		if err := n.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("delay %v: %v", delay, err)
		}
		code, err := n.Wait(15 * time.Second)
		out := logSince(n, before)
		if err != nil {
			t.Fatalf("delay %v: %v\n%s", delay, err, out)
		}
		stage := startupStage(out)
		if code != 0 {
			t.Errorf("delay %v: exit code %d, want 0 (got as far as: %s)\n%s", delay, code, stage, out)
		}
		as, err := n.Addrs()
		if err != nil {
			t.Fatal(err)
		}
		var leftover []netip.Prefix
		for _, a := range as {
			if slices.Contains(vips, a.Addr()) {
				leftover = append(leftover, a)
			}
		}
		if len(leftover) > 0 {
			t.Errorf("delay %v: VIPs left on the node: %v (got as far as: %s)", delay, leftover, stage)
		}
		for _, b := range baseline {
			if !slices.Contains(as, b) {
				t.Errorf("delay %v: node address %s is gone: %v", delay, b, as)
			}
		}
		rules := vrrpTagged(t, n, "e2e")
		if len(rules) > 1 {
			t.Errorf("delay %v: tagged rule duplicated: %q", delay, rules)
		}
		if len(rules) == 1 && !strings.Contains(out, "multicast accept rule in place") {
			t.Errorf("delay %v: a tagged rule is there, but this run never logged inserting it", delay)
		}
		if strings.Contains(out, "started keepalived") && !strings.Contains(out, "keepalived stopped") {
			t.Errorf("delay %v: keepalived was started but the agent did not log stopping it:\n%s", delay, out)
		}
		t.Logf("delay %v: exit %d; got as far as: %s; rule left: %v; VIPs left: %v", delay, code, stage, len(rules) == 1, leftover)
		// The next run starts from a clean host.
		if len(rules) == 1 {
			if out, err := n.Exec(t.Context(), "iptables", append([]string{"-w", "5", "-D", "INPUT"}, splitRule(rules[0])...)...); err != nil {
				t.Fatalf("remove the rule: %v\n%s", err, out)
			}
		}
	}
}

// startupStage names the furthest start-up step a run's log shows.
func startupStage(log string) string {
	steps := []struct{ marker, name string }{
		{"started keepalived", "keepalived started"},
		{"multicast accept rule in place", "multicast rule inserted"},
		{"stopped before any change to the host", "pre-flight done, stopped before any change"},
		{"stopped during the pre-flight check", "stopped during keepalived -t"},
		{"node facts", "node facts read"},
		{"stopped while waiting for the interface", "stopped while waiting for the interface"},
		{"starting ipfailover", "agent started"},
	}
	for _, s := range steps {
		if strings.Contains(log, s.marker) {
			return s.name
		}
	}
	return "nothing logged"
}
