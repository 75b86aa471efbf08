package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/e2e/lab"
)

// TestHarnessWithPlainKeepalived checks the lab itself, independently of the
// agent: plain keepalived as each node's PID 1, a v4 and a v6 VIP, a
// graceful stop and a link cut. If this fails, scenario failures say nothing
// about the agent.
func TestHarnessWithPlainKeepalived(t *testing.T) {
	l := newLab(t, 2)
	ctx := t.Context()
	v4, v6 := netip.MustParseAddr("192.0.2.200"), netip.MustParseAddr("2001:db8::200")
	vips := []netip.Addr{v4, v6}
	dir := t.TempDir()
	for i, n := range l.Nodes {
		conf := filepath.Join(dir, n.Name+".conf")
		prio := 150 - 50*i
		body := fmt.Sprintf(`global_defs {
  router_id %[1]s
  script_user root
  enable_script_security
  max_auto_priority -1
  vrrp_version 3
}
vrrp_instance V4 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority %[2]d
  advert_int 1
  virtual_ipaddress {
    192.0.2.200/24
  }
}
vrrp_instance V6 {
  state BACKUP
  interface eth0
  virtual_router_id 52
  priority %[2]d
  advert_int 1
  virtual_ipaddress {
    2001:db8::200/64
  }
}
`, n.Name, prio)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		err := n.Start(lab.Spec{Argv: []string{"/usr/sbin/keepalived", "--dont-fork", "--log-console", "-D",
			"-f", conf, "-p", "/run/k.pid", "-r", "/run/v.pid", "-c", "/run/c.pid"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	n1 := l.Nodes[0]
	waitHolding(t, l, vips, 15*time.Second, func(h lab.Holding) error {
		if err := h.ExactlyOne(); err != nil {
			return err
		}
		if got := h.HeldBy("n1"); len(got) != 2 {
			return fmt.Errorf("n1 (priority 150) holds %v, want both VIPs", got)
		}
		return nil
	})
	for _, v := range vips {
		if got, err := l.Probe(ctx, netip.AddrPortFrom(v, lab.DefaultServicePort), time.Second); err != nil || got != "n1" {
			t.Fatalf("probe %s = %q, %v; want n1", v, got, err)
		}
	}
	if p, err := n1.Keepalived(); err != nil || p.PID != n1.PID1() {
		t.Fatalf("Keepalived() = %+v, %v; want the PID 1 %d", p, err, n1.PID1())
	}
	if z, err := n1.Zombies(); err != nil || len(z) != 0 {
		t.Fatalf("Zombies() = %v, %v", z, err)
	}

	prober := l.StartProber(netip.AddrPortFrom(v4, lab.DefaultServicePort), 20*time.Millisecond, 100*time.Millisecond)
	t0 := time.Now()
	code, err := n1.Stop(5 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("graceful stop of n1: code %d, %v", code, err)
	}
	waitHolding(t, l, vips, 3*time.Second, func(h lab.Holding) error {
		if len(h.HeldBy("n2")) != 2 {
			return fmt.Errorf("n2 holds %v", h.HeldBy("n2"))
		}
		return h.ExactlyOne()
	})
	tr := prober.Stop()
	t.Logf("plain keepalived graceful stop: VIPs on n2 %v after SIGTERM; %s", time.Since(t0).Round(time.Millisecond), tr)
	if g := tr.LongestGap().Duration(); g > 2*time.Second {
		t.Errorf("client gap %v on a graceful stop, want < 2s", g)
	}

	// Bring n1 back (it preempts), then cut its link: n2 must take over.
	if err := n1.Restart(); err != nil {
		t.Fatal(err)
	}
	waitHolding(t, l, vips, 15*time.Second, func(h lab.Holding) error {
		if len(h.HeldBy("n1")) != 2 {
			return fmt.Errorf("n1 holds %v", h.HeldBy("n1"))
		}
		return h.ExactlyOne()
	})
	t0 = time.Now()
	if err := n1.LinkDown(ctx); err != nil {
		t.Fatal(err)
	}
	waitHolding(t, l, vips, 6*time.Second, func(h lab.Holding) error {
		if len(h.HeldBy("n2")) != 2 {
			return fmt.Errorf("n2 holds %v", h.HeldBy("n2"))
		}
		return nil
	})
	t.Logf("plain keepalived link cut: VIPs on n2 %v after the cut", time.Since(t0).Round(time.Millisecond))
	if err := n1.LinkUp(ctx); err != nil {
		t.Fatal(err)
	}
	waitHolding(t, l, vips, 10*time.Second, func(h lab.Holding) error { return h.ExactlyOne() })
}

// waitHolding polls where the VIPs are until check accepts it.
func waitHolding(t *testing.T, l *lab.Lab, vips []netip.Addr, timeout time.Duration, check func(lab.Holding) error) lab.Holding {
	t.Helper()
	var last lab.Holding
	err := lab.Poll(t.Context(), timeout, 20*time.Millisecond, func() error {
		h, err := l.Holders(vips)
		if err != nil {
			return err
		}
		last = h
		return check(h)
	})
	if err != nil {
		t.Fatalf("VIPs %v: %v (last seen: %v)", vips, err, last)
	}
	return last
}
