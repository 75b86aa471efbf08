package hostnet

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
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

// These tests need root. They create their own network namespace, build a
// veth pair inside it (this kernel has no dummy link type) and never touch
// the host's interfaces or addresses.

// childEnv marks the copy of the test binary re-executed inside the
// namespace; its value is the parent's network namespace identity so the
// child can refuse to run in the host namespace.
const childEnv = "IPFAILOVER_HOSTNET_TEST_PARENT_NETNS"

// waitingMarker is the log line the child prints once it is waiting for its
// interface; the parent creates the interface only after seeing it.
const waitingMarker = `msg="waiting for interface"`

func requireNetnsRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("skipping: ip not found in PATH: %v", err)
	}
}

// newNetns creates a namespace that is deleted, with its links, at cleanup.
func newNetns(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := prefix + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot create network namespace %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("delete network namespace %s: %v: %s", name, err, out)
		}
	})
	return name
}

// inNetns runs ip commands in the namespace and fails the test on error.
func inNetns(t *testing.T, ns string, cmds ...string) {
	t.Helper()
	r := NetnsRunner{Name: ns}
	for _, c := range cmds {
		if _, err := r.Run(context.Background(), "ip", strings.Fields(c)...); err != nil {
			t.Fatalf("setup: %v", err)
		}
	}
}

func TestRemoveAddressesInNetns(t *testing.T) {
	requireNetnsRoot(t)
	ns := newNetns(t, "ipf-hn-")
	inNetns(t, ns,
		"link add ipfa0 type veth peer name ipfb0",
		"link set ipfa0 up",
		"link set ipfb0 up",
		"addr add 192.0.2.10/24 dev ipfa0",
		"addr add 192.0.2.50/32 dev ipfa0",
		"addr add 198.51.100.5/24 dev ipfa0",
		"addr add 2001:db8::50/128 dev ipfa0 nodad",
		"addr add 2001:db8::10/64 dev ipfa0 nodad",
	)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := NetnsRunner{Name: ns}

	got, err := Addresses(ctx, r, "ipfa0")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"192.0.2.10/24", "192.0.2.50/32", "198.51.100.5/24", "2001:db8::50/128", "2001:db8::10/64"} {
		if !slices.Contains(got, netip.MustParsePrefix(want)) {
			t.Errorf("Addresses = %v, lacks %s", got, want)
		}
	}

	vips := []netip.Prefix{
		netip.MustParsePrefix("192.0.2.50/32"),
		netip.MustParsePrefix("198.51.100.5/32"), // present as /24
		netip.MustParsePrefix("2001:db8::50/128"),
		netip.MustParsePrefix("203.0.113.9/32"), // absent
	}
	removed, err := RemoveAddresses(ctx, r, "ipfa0", vips, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("RemoveAddresses: %v", err)
	}
	wantRemoved := []netip.Prefix{
		netip.MustParsePrefix("192.0.2.50/32"),
		netip.MustParsePrefix("198.51.100.5/24"),
		netip.MustParsePrefix("2001:db8::50/128"),
	}
	if !slices.Equal(removed, wantRemoved) {
		t.Errorf("removed = %v, want %v", removed, wantRemoved)
	}
	after, err := Addresses(ctx, r, "ipfa0")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range wantRemoved {
		if slices.Contains(after, p) {
			t.Errorf("%s still present after RemoveAddresses: %v", p, after)
		}
	}
	for _, keep := range []string{"192.0.2.10/24", "2001:db8::10/64"} {
		if !slices.Contains(after, netip.MustParsePrefix(keep)) {
			t.Errorf("node address %s was removed: %v", keep, after)
		}
	}
	// Idempotent: nothing left to remove.
	if removed, err := RemoveAddresses(ctx, r, "ipfa0", vips, nil); err != nil || len(removed) != 0 {
		t.Errorf("second RemoveAddresses = %v, %v; want nothing, nil", removed, err)
	}
	if _, err := Addresses(ctx, r, "ipfnone0"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Addresses of a missing interface: %v", err)
	}
}

// TestWaitForInterfaceInNetns starts WaitForInterface (in a copy of this test
// binary inside the namespace) before the interface exists, then creates it,
// and checks that the wait ends with the right address, and that
// PrimaryAddress and DefaultRouteInterface read the namespace correctly.
func TestWaitForInterfaceInNetns(t *testing.T) {
	if parent := os.Getenv(childEnv); parent != "" {
		waitChild(t, parent)
		return
	}
	requireNetnsRoot(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hostNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	ns := newNetns(t, "ipf-hw-")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, self,
		"-test.run=^TestWaitForInterfaceInNetns$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+hostNS)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		out     strings.Builder
		mu      sync.Mutex
		waiting = make(chan struct{})
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		seen := false
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if !seen && strings.Contains(sc.Text(), waitingMarker) {
				seen = true
				close(waiting)
			}
		}
	}()
	waitErr := make(chan error, 1)
	go func() { err := cmd.Wait(); pw.Close(); waitErr <- err }()

	select {
	case <-waiting:
	case err := <-waitErr:
		<-done
		t.Fatalf("child exited before waiting (%v):\n%s", err, out.String())
	case <-ctx.Done():
		t.Fatal("child never reported that it is waiting")
	}
	inNetns(t, ns,
		"link add ipfw0 type veth peer name ipfw1",
		"link set ipfw1 up",
		"addr add 192.0.2.10/24 dev ipfw0",
		"addr add 192.0.2.50/24 dev ipfw0", // secondary: must not be chosen
		"link set ipfw0 up",
		"route add default via 192.0.2.1 dev ipfw0",
	)
	err = <-waitErr
	<-done
	mu.Lock()
	t.Logf("child in namespace %s:\n%s", ns, out.String())
	mu.Unlock()
	if err != nil {
		t.Fatalf("child test failed: %v", err)
	}
	if !strings.Contains(out.String(), "--- PASS: TestWaitForInterfaceInNetns") {
		t.Fatal("child test did not report PASS")
	}
}

func waitChild(t *testing.T, parentNS string) {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if self == parentNS {
		t.Fatalf("refusing to run: still in the parent's network namespace %s", self)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	addr, err := WaitForInterface(ctx, "ipfw0", 4, 20*time.Millisecond, log)
	if err != nil {
		t.Fatalf("WaitForInterface: %v", err)
	}
	if want := netip.MustParseAddr("192.0.2.10"); addr != want {
		t.Errorf("WaitForInterface = %s, want %s", addr, want)
	}
	if a, err := PrimaryAddress("ipfw0", 4); err != nil || a.String() != "192.0.2.10" {
		t.Errorf("PrimaryAddress = %v, %v; want 192.0.2.10", a, err)
	}
	if _, err := PrimaryAddress("ipfw0", 6); err == nil {
		t.Error("PrimaryAddress(6) succeeded on an interface with only link-local IPv6")
	}
	// The route may land a moment after the address the wait saw.
	deadline := time.Now().Add(10 * time.Second)
	for {
		dev, err := DefaultRouteInterface("/proc")
		if err == nil && dev == "ipfw0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("DefaultRouteInterface = %q, %v; want ipfw0", dev, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
