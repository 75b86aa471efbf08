package e2e

import (
	"bufio"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/e2e/lab"
)

// metricsPort is where the agents serve /metrics, /healthz and / in these
// tests (set explicitly, not relying on the default).
const metricsPort = "9465"

// httpGet fetches path from the node's agent through curl run inside the
// node's network namespace and returns the status code and body.
func httpGet(t *testing.T, n *lab.Node, path string) (int, string, error) {
	t.Helper()
	out, err := n.Exec(t.Context(), "curl", "-s", "-m", "1", "-w", "\n%{http_code}", "http://127.0.0.1:"+metricsPort+path)
	if err != nil {
		return 0, "", fmt.Errorf("curl %s on %s: %v: %s", path, n.Name, err, out)
	}
	s := strings.TrimRight(string(out), "\n")
	i := strings.LastIndexByte(s, '\n')
	code, err := strconv.Atoi(s[i+1:])
	if err != nil {
		return 0, "", fmt.Errorf("curl %s on %s: no status code in %q", path, n.Name, s)
	}
	if i < 0 {
		return code, "", nil
	}
	return code, s[:i], nil
}

// vipStates reads ipfailover_vip_master per VIP from a node's /metrics.
func vipStates(t *testing.T, n *lab.Node) (map[string]float64, error) {
	code, body, err := httpGet(t, n, "/metrics")
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("%s /metrics: HTTP %d", n.Name, code)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "ipfailover_vip_master{") {
			continue
		}
		_, rest, _ := strings.Cut(l, `vip="`)
		vip, _, _ := strings.Cut(rest, `"`)
		v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: bad line %q", n.Name, l)
		}
		out[vip] = v
	}
	return out, nil
}

// TestObservability: on a 2-node lab the metrics of each node show which is
// master for each VIP and follow a failover within 1 s of the VIP moving in
// the kernel; /healthz fails for a SIGSTOPped keepalived within three advert
// intervals; the status page lists every VIP.
func TestObservability(t *testing.T) {
	l := newLab(t, 2)
	vipList := "192.0.2.200-201,2001:db8::200"
	vips := append(addrRange(200, 201), addrs("2001:db8::200")...)
	startAgents(t, l, vipList, map[string]string{"OPENSHIFT_HA_METRICS_ADDRESS": ":" + metricsPort})
	h := waitStable(t, l, vips, 20*time.Second, masterDown+time.Second, exactlyOne)

	// Steady state: each node's metrics agree with the kernel.
	metricsAgree := func(h lab.Holding) error {
		for _, n := range l.Nodes {
			st, err := vipStates(t, n)
			if err != nil {
				return err
			}
			for _, v := range vips {
				want := 0.0
				if len(h[v]) == 1 && h[v][0] == n.Name {
					want = 1
				}
				if got, ok := st[v.String()]; !ok || got != want {
					return fmt.Errorf("%s: ipfailover_vip_master{vip=%q} = %v (exported %v), want %v (holders %v)", n.Name, v, got, ok, want, h)
				}
			}
		}
		return nil
	}
	if err := lab.Poll(t.Context(), 3*time.Second, 50*time.Millisecond, func() error { return metricsAgree(h) }); err != nil {
		t.Fatal(err)
	}

	// The status page lists every VIP, on both nodes.
	for _, n := range l.Nodes {
		code, body, err := httpGet(t, n, "/")
		if err != nil || code != 200 {
			t.Fatalf("%s status page: %d %v", n.Name, code, err)
		}
		for _, v := range vips {
			if !strings.Contains(body, v.String()) {
				t.Errorf("%s status page lacks VIP %s", n.Name, v)
			}
		}
		if code, body, _ := httpGet(t, n, "/healthz"); code != 200 {
			t.Errorf("%s /healthz = %d %q in steady state", n.Name, code, body)
		}
		if code, body, _ := httpGet(t, n, "/readyz"); code != 200 {
			t.Errorf("%s /readyz = %d %q in steady state", n.Name, code, body)
		}
	}

	// Failover: the master's health check (TCP to its service) fails, so
	// it goes FAULT and the other node takes its VIPs. Each node's
	// ipfailover_vip_master must follow within 1 s of the kernel.
	old := master(t, l, h)
	var other *lab.Node
	for _, n := range l.Nodes {
		if n != old {
			other = n
		}
	}
	moving := h.HeldBy(old.Name)
	v := moving[0]
	old.StopService()
	defer old.StartService()
	var movedAt, oldSawAt, newSawAt time.Time
	err := lab.Poll(t.Context(), 15*time.Second, 10*time.Millisecond, func() error {
		now := time.Now()
		if movedAt.IsZero() {
			hh, err := l.Holders([]netip.Addr{v})
			if err != nil {
				return err
			}
			if hh.HeldBy(other.Name) != nil && len(hh[v]) == 1 {
				movedAt = now
			}
		}
		if oldSawAt.IsZero() {
			if st, err := vipStates(t, old); err == nil && st[v.String()] == 0 {
				oldSawAt = time.Now()
			}
		}
		if newSawAt.IsZero() {
			if st, err := vipStates(t, other); err == nil && st[v.String()] == 1 {
				newSawAt = time.Now()
			}
		}
		if movedAt.IsZero() || oldSawAt.IsZero() || newSawAt.IsZero() {
			return fmt.Errorf("VIP %s: moved %v, old node metric %v, new node metric %v", v, !movedAt.IsZero(), !oldSawAt.IsZero(), !newSawAt.IsZero())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover of %s: old node's metric %v, new node's metric %v after the VIP moved in the kernel",
		v, oldSawAt.Sub(movedAt).Round(time.Millisecond), newSawAt.Sub(movedAt).Round(time.Millisecond))
	for name, at := range map[string]time.Time{old.Name: oldSawAt, other.Name: newSawAt} {
		// A gather is cached for up to 1 s (scrape-flood protection).
		if d := at.Sub(movedAt); d > 2*time.Second {
			t.Errorf("%s: metrics followed the failover %v after the kernel, want < 2s", name, d)
		}
	}
	if code, body, err := httpGet(t, old, "/status"); err != nil || code != 200 || !strings.Contains(body, `"FAULT"`) {
		t.Errorf("%s /status after its check failed: %d %v, want an instance in FAULT:\n%s", old.Name, code, err, body)
	}

	// SIGSTOP keepalived's VRRP child on the new master: /healthz fails
	// within three advert intervals, and recovers after SIGCONT.
	ka := waitKeepalived(t, other, 0, 5*time.Second)
	procs, err := other.Procs()
	if err != nil {
		t.Fatal(err)
	}
	child := 0
	for _, p := range procs {
		if p.Comm == "keepalived" && p.PPID == ka.PID {
			child = p.PID
		}
	}
	if child == 0 {
		t.Fatalf("no VRRP child of keepalived %d on %s: %s", ka.PID, other.Name, lab.FormatProcs(procs))
	}
	kill(t, child, syscall.SIGSTOP)
	stoppedAt := time.Now()
	defer syscall.Kill(child, syscall.SIGCONT)
	err = lab.Poll(t.Context(), 3*advert, 20*time.Millisecond, func() error {
		code, body, err := httpGet(t, other, "/healthz")
		if err != nil {
			return err
		}
		if code != 503 {
			return fmt.Errorf("/healthz = %d %q", code, body)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s /healthz with a SIGSTOPped VRRP child: %v", other.Name, err)
	}
	t.Logf("/healthz failed %v after SIGSTOP", time.Since(stoppedAt).Round(time.Millisecond))
	// /metrics may serve a gather up to a second old (scrapes are cached
	// so that a scrape flood cannot burn the agent's CPU).
	if err := lab.Poll(t.Context(), 2*time.Second, 50*time.Millisecond, func() error {
		st, err := vipStates(t, other)
		if err == nil && st[v.String()] != 0 {
			err = fmt.Errorf("%s still reports MASTER for %s with keepalived stopped: %v", other.Name, v, st)
		}
		return err
	}); err != nil {
		t.Error(err)
	}
	kill(t, child, syscall.SIGCONT)
	if err := lab.Poll(t.Context(), 5*time.Second, 50*time.Millisecond, func() error {
		code, body, err := httpGet(t, other, "/healthz")
		if err == nil && code != 200 {
			err = fmt.Errorf("/healthz = %d %q", code, body)
		}
		return err
	}); err != nil {
		t.Errorf("%s after SIGCONT: %v", other.Name, err)
	}
}
