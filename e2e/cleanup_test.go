package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/e2e/lab"
)

// TestCleanupAfterCrash: a node whose agent and keepalived were killed (a
// container SIGKILLed with its whole PID namespace) still holds its VIPs
// and the multicast rule; `ipfailover cleanup` with the same environment,
// as a removal Job runs it, removes exactly those and is idempotent.
func TestCleanupAfterCrash(t *testing.T) {
	l := newLab(t, 1)
	vips := "192.0.2.200-201"
	startAgents(t, l, vips, map[string]string{"OPENSHIFT_HA_ADVERT_INTERVAL": "0.1", "OPENSHIFT_HA_MONITOR_PORT": "0"})
	n := l.Nodes[0]
	want := addrs("192.0.2.200", "192.0.2.201")
	waitStable(t, l, want, 20*time.Second, 300*time.Millisecond, exactlyOne)

	// SIGKILL of PID 1 kills everything in the node's PID namespace at
	// once: keepalived gets no chance to release anything.
	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	h, err := l.Holders(want)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.HeldBy(n.Name); len(got) != len(want) {
		t.Fatalf("after the crash %s holds %v, want all of %v still there (else this test proves nothing)", n.Name, got, want)
	}
	if rules := vrrpRules(t, n); len(rules) != 1 {
		t.Fatalf("after the crash: VRRP rules %q, want one", rules)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, agentEnv(l, vips, nil)...)
	args = append(args, agentBinary(t), "cleanup")
	for i := range 2 { // the second run must find nothing and succeed
		if out, err := n.Exec(ctx, args[0], args[1:]...); err != nil {
			t.Fatalf("cleanup run %d: %v\n%s", i+1, err, out)
		}
		h, err := l.Holders(want)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.HeldBy(n.Name); len(got) != 0 {
			t.Errorf("cleanup run %d: %s still holds %v", i+1, n.Name, got)
		}
		if rules := vrrpRules(t, n); len(rules) != 0 {
			t.Errorf("cleanup run %d: VRRP rules left: %q", i+1, rules)
		}
	}
	// The node's own address is not a VIP and must survive.
	as, err := n.Addrs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(as, func(p netip.Prefix) bool { return p.Addr() == n.IPv4 }) {
		t.Errorf("cleanup removed the node address: %v", as)
	}
}

// vrrpRules lists the INPUT rules that accept VRRP multicast.
func vrrpRules(t *testing.T, n *lab.Node) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, rules, err := n.IPTables(ctx, "iptables", "INPUT")
	if err != nil {
		t.Fatal(fmt.Errorf("iptables on %s: %w", n.Name, err))
	}
	var out []string
	for _, r := range rules {
		if strings.Contains(r, "224.0.0.18") {
			out = append(out, r)
		}
	}
	return out
}

// TestInvalidChainTouchesNothing: a chain that does not exist is exit 2,
// found before anything on the node changed: no rule anywhere, no VIP, no
// keepalived ever started (even though a stale VIP was waiting to be
// removed, it is left alone).
func TestInvalidChainTouchesNothing(t *testing.T) {
	l := newLab(t, 1)
	n := l.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stale := "192.0.2.201/32"
	if out, err := n.Exec(ctx, "ip", "addr", "add", stale, "dev", lab.Interface); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	env := agentEnv(l, "192.0.2.200-201", map[string]string{"OPENSHIFT_HA_IPTABLES_CHAIN": "NO-SUCH-CHAIN"})
	if err := n.Start(lab.Spec{Argv: []string{agentBinary(t), "run"}, Env: env}); err != nil {
		t.Fatal(err)
	}
	code, err := n.Wait(60 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code != 2 {
		t.Fatalf("exit code %d, want 2\n%s", code, n.LogTail(20))
	}
	if log := n.LogTail(20); !strings.Contains(log, `OPENSHIFT_HA_IPTABLES_CHAIN="NO-SUCH-CHAIN"`) || strings.Contains(log, "started keepalived") {
		t.Errorf("log does not name the chain, or keepalived was started:\n%s", log)
	}
	if rules := vrrpRules(t, n); len(rules) != 0 {
		t.Errorf("VRRP rules inserted: %q", rules)
	}
	as, err := n.Addrs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(as, func(p netip.Prefix) bool { return p.String() == stale }) {
		t.Errorf("the stale VIP %s was removed although the start was refused: %v", stale, as)
	}
}
