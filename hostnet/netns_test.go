package hostnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests need root. Each creates its own network namespace, builds
// veth pairs inside it (this kernel has no dummy link type), points a Net at
// it with NewAt and never touches the host's interfaces or addresses. The
// test process itself stays in the host namespace.

// testNS is a namespace created for one test.
type testNS struct {
	name string
	net  *Net
}

// newNetns creates a namespace, deleted with its links at cleanup also when
// the test fails, and a Net for it.
func newNetns(t *testing.T) testNS {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("skipping: ip not found in PATH: %v", err)
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := "ipf-hn-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot create network namespace %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("delete network namespace %s: %v: %s", name, err, out)
		}
	})
	n, err := NewAt("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close) // runs before the namespace is deleted
	return testNS{name: name, net: n}
}

// ip runs "ip -n NS" commands and fails the test on error.
func (ns testNS) ip(t *testing.T, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		args := append([]string{"-n", ns.name}, strings.Fields(c)...)
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("setup: ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
}

// veth creates an up veth pair.
func (ns testNS) veth(t *testing.T, a, b string) {
	t.Helper()
	ns.ip(t, "link add "+a+" type veth peer name "+b, "link set "+a+" up", "link set "+b+" up")
}

func TestNetnsAddressesAndRemoval(t *testing.T) {
	ns := newNetns(t)
	ns.veth(t, "ipfa0", "ipfb0")
	ns.veth(t, "ipfc0", "ipfd0")
	ns.ip(t,
		"addr add 192.0.2.10/24 dev ipfa0",
		"addr add 192.0.2.50/32 dev ipfa0",
		"addr add 198.51.100.5/24 dev ipfa0",
		"addr add 2001:db8::10/64 dev ipfa0 nodad",
		"addr add 2001:db8::50/128 dev ipfa0 nodad",
		// The node's only address, listed as a VIP by mistake.
		"addr add 203.0.113.10/24 dev ipfb0",
		// A stale VIP that is the primary of its subnet, with the node's
		// address added after it as a secondary.
		"addr add 198.51.100.20/24 dev ipfc0",
		"addr add 192.0.2.100/24 dev ipfc0",
		"addr add 192.0.2.11/24 dev ipfc0",
	)
	n := ns.net

	got, err := n.Addresses("ipfa0")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range pfx("192.0.2.10/24", "192.0.2.50/32", "198.51.100.5/24", "2001:db8::50/128", "2001:db8::10/64") {
		if !slices.Contains(got, want) {
			t.Errorf("Addresses = %v, lacks %s", got, want)
		}
	}
	all, err := n.AllAddresses()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(all["ipfa0"], got) || !slices.Contains(all["ipfb0"], netip.MustParsePrefix("203.0.113.10/24")) {
		t.Errorf("AllAddresses = %v; want ipfa0 as Addresses (%v) and ipfb0 with 203.0.113.10/24", all, got)
	}
	if _, err := n.Addresses("ipfnone0"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Addresses of a missing interface: %v", err)
	}

	// Node address with a stale IPv6 VIP listed first (the kernel lists the
	// newest IPv6 address first).
	if a, err := n.NodeAddress("ipfa0", 6, pfx("2001:db8::50/128")); err != nil || a != netip.MustParseAddr("2001:db8::10") {
		t.Errorf("NodeAddress(6) = %v, %v; want 2001:db8::10", a, err)
	}
	if a, err := n.NodeAddress("ipfa0", 4, pfx("192.0.2.50/32")); err != nil || a != netip.MustParseAddr("192.0.2.10") {
		t.Errorf("NodeAddress(4) = %v, %v; want 192.0.2.10", a, err)
	}

	vips := pfx("192.0.2.50/32", "198.51.100.5/32", "2001:db8::50/128", "203.0.113.9/32")
	var logBuf bytes.Buffer
	removed, err := n.RemoveAddresses("ipfa0", vips, slog.New(slog.NewTextHandler(&logBuf, nil)))
	if err != nil {
		t.Fatalf("RemoveAddresses: %v", err)
	}
	if want := pfx("192.0.2.50/32", "2001:db8::50/128"); !slices.Equal(removed, want) {
		t.Errorf("removed = %v, want %v", removed, want)
	}
	if c := strings.Count(logBuf.String(), `msg="removed VIP"`); c != len(removed) {
		t.Errorf("logged %d removals, want %d:\n%s", c, len(removed), logBuf.String())
	}
	after, err := n.Addresses("ipfa0")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range removed {
		if slices.Contains(after, p) {
			t.Errorf("%s still present after RemoveAddresses: %v", p, after)
		}
	}
	// Same address, other prefix length: not ours. Node addresses: never.
	for _, keep := range pfx("198.51.100.5/24", "192.0.2.10/24", "2001:db8::10/64") {
		if !slices.Contains(after, keep) {
			t.Errorf("%s was removed: %v", keep, after)
		}
	}
	// Idempotent: nothing left to remove.
	if removed, err := n.RemoveAddresses("ipfa0", vips, nil); err != nil || len(removed) != 0 {
		t.Errorf("second RemoveAddresses = %v, %v; want nothing, nil", removed, err)
	}

	// The node's only address is kept, and the error names the variable.
	removed, err = n.RemoveAddresses("ipfb0", pfx("203.0.113.10/24"), nil)
	if len(removed) != 0 || err == nil || !strings.Contains(err.Error(), "OPENSHIFT_HA_VIRTUAL_IPS") || !strings.Contains(err.Error(), "node's own") {
		t.Errorf("RemoveAddresses(ipfb0) = %v, %v; want nothing removed and an error", removed, err)
	}
	// The primary VIP is kept: deleting it would take 192.0.2.11 along.
	removed, err = n.RemoveAddresses("ipfc0", pfx("192.0.2.100/24"), nil)
	if len(removed) != 0 || err == nil || !strings.Contains(err.Error(), "192.0.2.11/24") {
		t.Errorf("RemoveAddresses(ipfc0) = %v, %v; want nothing removed and an error naming 192.0.2.11/24", removed, err)
	}
	for _, c := range []struct {
		ifname string
		want   netip.Prefix
	}{{"ipfb0", netip.MustParsePrefix("203.0.113.10/24")}, {"ipfc0", netip.MustParsePrefix("192.0.2.11/24")}} {
		if got, err := n.Addresses(c.ifname); err != nil || !slices.Contains(got, c.want) {
			t.Errorf("%s: %v, %v; lost %s", c.ifname, got, err, c.want)
		}
	}
}

func TestNetnsChooseInterface(t *testing.T) {
	ns := newNetns(t)
	ns.veth(t, "ipfa0", "ipfb0")
	ns.ip(t,
		"addr add 192.0.2.10/24 dev ipfa0",
		"addr add 198.51.100.10/24 dev ipfb0",
		"addr add 2001:db8::10/64 dev ipfb0 nodad",
	)
	n := ns.net
	check := func(vips []netip.Prefix, wantName, wantWhy string) {
		t.Helper()
		name, why, err := n.ChooseInterface("", vips)
		if err != nil || name != wantName || why != wantWhy {
			t.Errorf("ChooseInterface(%v) = %q, %q, %v; want %q, %q", vips, name, why, err, wantName, wantWhy)
		}
	}

	// No default route anywhere: the connected subnet decides.
	check(pfx("198.51.100.100/32"), "ipfb0", "its connected subnet 198.51.100.0/24 holds VIP 198.51.100.100")
	check(pfx("2001:db8::100/128"), "ipfb0", "its connected subnet 2001:db8::/64 holds VIP 2001:db8::100")
	check(pfx("192.0.2.100/32"), "ipfa0", "its connected subnet 192.0.2.0/24 holds VIP 192.0.2.100")
	if name, _, err := n.ChooseInterface("", pfx("203.0.113.5/32")); err == nil || !strings.Contains(err.Error(), "OPENSHIFT_HA_NETWORK_INTERFACE") {
		t.Errorf("routed VIP without a default route = %q, %v; want an error naming OPENSHIFT_HA_NETWORK_INTERFACE", name, err)
	}
	if name, why, err := n.ChooseInterface("ipfx0", pfx("192.0.2.100/32")); err != nil || name != "ipfx0" || why != WhyExplicit {
		t.Errorf("explicit = %q, %q, %v", name, why, err)
	}

	// A default route in a table other than main is found.
	ns.ip(t, "route add default via 192.0.2.1 dev ipfa0 table 100")
	check(pfx("203.0.113.5/32"), "ipfa0", "default route via 192.0.2.1 in table 100")
	// Main is preferred.
	ns.ip(t, "route add default via 198.51.100.1 dev ipfb0")
	check(pfx("203.0.113.5/32"), "ipfb0", "default route via 198.51.100.1 in table main")
	// IPv6 VIPs follow the IPv6 default route.
	ns.ip(t, "-6 route add default via 2001:db8::1 dev ipfb0 table 200")
	check(pfx("2001:db8:1::5/128"), "ipfb0", "default route via 2001:db8::1 in table 200")
}

func TestNetnsAddressConflicts(t *testing.T) {
	ns := newNetns(t)
	ns.veth(t, "ipfa0", "ipfb0")
	ns.ip(t,
		"link set lo up",
		"addr add 203.0.113.1/32 dev lo",
		"addr add 192.0.2.10/24 dev ipfa0",
		"addr add 192.0.2.100/32 dev ipfa0", // a stale VIP of ours
		"addr add 198.51.100.10/24 dev ipfb0",
	)
	got, err := ns.net.AddressConflicts("ipfa0", pfx("192.0.2.10/32", "192.0.2.100/32", "198.51.100.10/32", "203.0.113.1/32", "192.0.2.200/32"))
	if want := addrs("192.0.2.10", "198.51.100.10", "203.0.113.1"); err != nil || !slices.Equal(got, want) {
		t.Errorf("AddressConflicts = %v, %v; want %v", got, err, want)
	}
}

// TestNetnsWaitForInterface starts waiting before the interface exists, then
// creates it with a VIP added before the node's address, and checks that the
// wait ends with the node's address.
func TestNetnsWaitForInterface(t *testing.T) {
	ns := newNetns(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var logBuf syncBuffer
	type result struct {
		addr netip.Addr
		err  error
	}
	done := make(chan result, 1)
	go func() {
		a, err := ns.net.WaitForInterface(ctx, "ipfw0", 4, pfx("192.0.2.50/32"), 10*time.Millisecond, slog.New(slog.NewTextHandler(&logBuf, nil)))
		done <- result{a, err}
	}()
	for !strings.Contains(logBuf.String(), `msg="waiting for interface"`) {
		select {
		case r := <-done:
			t.Fatalf("WaitForInterface returned before the interface existed: %v, %v", r.addr, r.err)
		case <-ctx.Done():
			t.Fatal("WaitForInterface never reported that it is waiting")
		case <-time.After(5 * time.Millisecond):
		}
	}
	ns.ip(t,
		"link add ipfw0 type veth peer name ipfw1",
		"link set ipfw1 up",
		"addr add 192.0.2.50/32 dev ipfw0",
		"addr add 192.0.2.10/24 dev ipfw0",
		"link set ipfw0 up",
	)
	r := <-done
	if r.err != nil || r.addr != netip.MustParseAddr("192.0.2.10") {
		t.Fatalf("WaitForInterface = %v, %v; want 192.0.2.10\n%s", r.addr, r.err, logBuf.String())
	}
	if !strings.Contains(logBuf.String(), `msg="interface ready" interface=ipfw0 family=IPv4 address=192.0.2.10`) {
		t.Errorf("log lacks the ready line:\n%s", logBuf.String())
	}
}

// syncBuffer is a bytes.Buffer the logger and the test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
