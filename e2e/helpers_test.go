package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/e2e/lab"
)

// advert is the VRRP advert interval the scenarios run with (the default).
const advert = time.Second

// maxSkew bounds VRRP's skew time, (256-priority)/256 advert intervals.
const maxSkew = advert

// masterDown is how long a backup waits for a silent master at worst:
// three advert intervals plus the skew.
const masterDown = 3*advert + maxSkew

// agentEnv is the environment of every agent in a lab: the OPENSHIFT_HA_*
// variables a deployment would set, plus extra (which may override).
func agentEnv(l *lab.Lab, vips string, extra map[string]string) []string {
	m := map[string]string{
		"OPENSHIFT_HA_CONFIG_NAME":       "e2e",
		"OPENSHIFT_HA_VIRTUAL_IPS":       vips,
		"OPENSHIFT_HA_NETWORK_INTERFACE": lab.Interface,
		"OPENSHIFT_HA_MONITOR_PORT":      strconv.Itoa(lab.DefaultServicePort),
		"OPENSHIFT_HA_REPLICA_COUNT":     strconv.Itoa(len(l.Nodes)),
	}
	for k, v := range extra {
		m[k] = v
	}
	return envList(m)
}

// startAgents starts `ipfailover run` on every node of the lab.
func startAgents(t *testing.T, l *lab.Lab, vips string, extra map[string]string) {
	t.Helper()
	bin := agentBinary(t)
	for _, n := range l.Nodes {
		if err := n.Start(lab.Spec{Argv: []string{bin, "run"}, Env: agentEnv(l, vips, extra)}); err != nil {
			t.Fatal(err)
		}
	}
}

// addrs parses addresses.
func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// addrRange returns the IPv4 addresses 192.0.2.from .. 192.0.2.to.
func addrRange(from, to int) []netip.Addr {
	var out []netip.Addr
	for i := from; i <= to; i++ {
		out = append(out, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
	}
	return out
}

// waitStable polls the VIP placement until check has accepted it without
// interruption for hold, and returns the last placement. hold longer than
// masterDown proves that no backup is about to take over as a second
// master because it does not hear the adverts.
func waitStable(t *testing.T, l *lab.Lab, vips []netip.Addr, timeout, hold time.Duration, check func(lab.Holding) error) lab.Holding {
	t.Helper()
	var last lab.Holding
	var since time.Time
	err := lab.Poll(t.Context(), timeout, 50*time.Millisecond, func() error {
		h, err := l.Holders(vips)
		if err != nil {
			return err
		}
		last = h
		if err := check(h); err != nil {
			since = time.Time{}
			return err
		}
		if since.IsZero() {
			since = time.Now()
		}
		if held := time.Since(since); held < hold {
			return fmt.Errorf("held for %v of %v", held.Round(time.Millisecond), hold)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("VIPs %v: %v (last seen: %v)", vips, err, last)
	}
	return last
}

// exactlyOne is the usual steady-state check.
func exactlyOne(h lab.Holding) error { return h.ExactlyOne() }

// master returns the node holding the most VIPs (ties: the lowest-numbered).
func master(t *testing.T, l *lab.Lab, h lab.Holding) *lab.Node {
	t.Helper()
	var best *lab.Node
	for _, n := range l.Nodes {
		if best == nil || len(h.HeldBy(n.Name)) > len(h.HeldBy(best.Name)) {
			best = n
		}
	}
	if len(h.HeldBy(best.Name)) == 0 {
		t.Fatalf("no node holds a VIP: %v", h)
	}
	return best
}

// probeAll checks that every VIP answers from the client and that the node
// answering is the one holding it.
func probeAll(t *testing.T, l *lab.Lab, h lab.Holding) {
	t.Helper()
	for v, holders := range h {
		target := netip.AddrPortFrom(v, lab.DefaultServicePort)
		var got string
		err := lab.Poll(t.Context(), 3*time.Second, 50*time.Millisecond, func() error {
			var err error
			got, err = l.Probe(t.Context(), target, 300*time.Millisecond)
			return err
		})
		if err != nil {
			t.Errorf("VIP %s held by %v does not answer: %v", v, holders, err)
			continue
		}
		if len(holders) != 1 || got != holders[0] {
			t.Errorf("VIP %s answered by %s, held by %v", v, got, holders)
		}
	}
}

// waitKeepalived waits until the node runs a keepalived other than old (0:
// any) and returns it.
func waitKeepalived(t *testing.T, n *lab.Node, old int, timeout time.Duration) lab.Proc {
	t.Helper()
	var p lab.Proc
	err := lab.Poll(t.Context(), timeout, 20*time.Millisecond, func() error {
		var err error
		if p, err = n.Keepalived(); err != nil {
			return err
		}
		if p.PID == old {
			return fmt.Errorf("keepalived is still the old PID %d", old)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("node %s: %v", n.Name, err)
	}
	return p
}

// stopAsync sends the node a graceful stop and reports its exit later.
func stopAsync(n *lab.Node, grace time.Duration) <-chan error {
	c := make(chan error, 1)
	go func() {
		code, err := n.Stop(grace)
		if err == nil && code != 0 {
			err = fmt.Errorf("exit code %d, want 0", code)
		}
		c <- err
	}()
	return c
}

// kill sends sig to a host PID.
func kill(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("kill -%d %d: %v", sig, pid, err)
	}
}

// long reports whether the long variants were asked for.
func long() bool { return os.Getenv("IPFAILOVER_E2E_LONG") == "1" }
