package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/iptables"
)

// TestRenderOffNode: with an interface and an address given, the host is
// not asked, and the configuration is wired like run's (FIFO, check file).
func TestRenderOffNode(t *testing.T) {
	f := newFakeHost()
	d := f.deps(t)
	cfg := testConfig(t, "OPENSHIFT_HA_MONITOR_PORT=80")
	out, err := Render(cfg, "eth1", []netip.Addr{netip.MustParseAddr("192.0.2.20")}, d)
	if err != nil {
		t.Fatal(err)
	}
	dir := RunDir(d.RunDirRoot, cfg)
	for _, want := range []string{"192.0.2.100/32 dev eth1", "vrrp_notify_fifo " + dir + "/vrrp.fifo", dir + "/check.status", "check tcp 192.0.2.20:80"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if calls := f.allCalls(); len(calls) > 0 {
		t.Errorf("host asked: %v", calls)
	}
	_, err = Render(cfg, "eth1", []netip.Addr{cfg.VIPs[1].Addr()}, d)
	var inv *env.InvalidError
	if !errors.As(err, &inv) || !strings.Contains(inv.Problems[0].Reason, "--address") {
		t.Errorf("VIP given as the node's address: %v", err)
	}
}

// TestRenderOnNode: without flags the host gives the interface and the
// node's address, and conflicts are checked, as run does.
func TestRenderOnNode(t *testing.T) {
	f := newFakeHost()
	out, err := Render(testConfig(t), "", nil, f.deps(t))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("Node address 192.0.2.10 on interface eth0")) {
		t.Errorf("output not for the host's interface and address:\n%s", out)
	}
	want := []string{"open-net", "choose-interface", "address-conflicts", "node-address", "close-net"}
	if got := f.allCalls(); !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	// An interface flag alone still asks the host for the address.
	f = newFakeHost()
	if _, err := Render(testConfig(t), "eth9", nil, f.deps(t)); err != nil || f.count("node-address") != 1 {
		t.Errorf("render --interface: %v, calls %v", err, f.allCalls())
	}
	// Addresses alone: the interface comes from the host, no address.
	f = newFakeHost()
	if _, err := Render(testConfig(t), "", []netip.Addr{netip.MustParseAddr("192.0.2.30")}, f.deps(t)); err != nil || f.count("node-address") != 0 {
		t.Errorf("render --address: %v, calls %v", err, f.allCalls())
	}
	f = newFakeHost()
	f.conflicts = []netip.Addr{netip.MustParseAddr("192.0.2.100")}
	var inv *env.InvalidError
	if _, err := Render(testConfig(t), "", nil, f.deps(t)); !errors.As(err, &inv) {
		t.Errorf("conflict: %v", err)
	}
}

// TestCleanup removes the rule and the VIPs, and tries both even when one
// fails.
func TestCleanup(t *testing.T) {
	cfg := testConfig(t)
	f := newFakeHost()
	f.chain = [][]string{iptables.Rule{Chain: "INPUT", Tag: iptables.TagFor(cfg.Name)}.Spec()}
	if err := Cleanup(context.Background(), cfg, f.deps(t)); err != nil {
		t.Fatal(err)
	}
	if len(f.chain) != 0 || f.count("delete") != 1 || f.count("remove-addresses") != 1 || f.count("close-net") != 1 {
		t.Errorf("chain %v, calls %v", f.chain, f.allCalls())
	}

	f = newFakeHost()
	boom := errors.New("boom")
	f.fail["open-table"] = boom
	f.fail["choose-interface"] = errors.New("no default route")
	err := Cleanup(context.Background(), cfg, f.deps(t))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "find the interface holding VIPs: no default route") {
		t.Errorf("Cleanup: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f = newFakeHost()
	if err := Cleanup(ctx, cfg, f.deps(t)); !errors.Is(err, context.Canceled) || f.count("open-net") != 0 {
		t.Errorf("cancelled Cleanup: %v, calls %v", err, f.allCalls())
	}
}

// TestMissingScriptsAreNotFatal: keepalived disabled a missing script for
// the original image and kept serving, so the agent only logs it (naming the
// variable and path) instead of refusing to start.
func TestMissingScriptsAreNotFatal(t *testing.T) {
	cfg := env.Config{CheckScript: "/nonexistent/check.sh --strict", NotifyScript: "/nonexistent/notify.sh"}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if err := checkRunFiles(cfg, log); err != nil {
		t.Fatalf("checkRunFiles: %v", err)
	}
	for _, want := range []string{"OPENSHIFT_HA_CHECK_SCRIPT", "/nonexistent/check.sh", "OPENSHIFT_HA_NOTIFY_SCRIPT", "level=ERROR"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	cfg = env.Config{KeepalivedTemplate: "/nonexistent/template"}
	var inv *env.InvalidError
	if err := checkRunFiles(cfg, log); !errors.As(err, &inv) {
		t.Errorf("unreadable template: %v, want *env.InvalidError", err)
	}
}
