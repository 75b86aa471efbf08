package agent

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/supervisor"
)

// testConfig is a valid configuration: two IPv4 VIPs, the multicast rule in
// INPUT, no health check and no metrics server, keepalived.conf in a
// temporary directory.
func testConfig(t *testing.T, extra ...string) env.Config {
	t.Helper()
	// The first entry of a variable wins: extra overrides the defaults.
	environ := append(slices.Clone(extra),
		"OPENSHIFT_HA_CONFIG_NAME=ipf",
		"OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100-101",
		"OPENSHIFT_HA_MONITOR_PORT=0",
		"OPENSHIFT_HA_METRICS_ADDRESS=",
		"KEEPALIVED_CONFIG="+filepath.Join(t.TempDir(), "keepalived.conf"),
	)
	cfg, _, err := env.Load(environ)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// writeProc makes pid a running keepalived in the fake /proc at root.
func writeProc(t *testing.T, root string, pid int, state byte) {
	t.Helper()
	id := strconv.Itoa(pid)
	dir := filepath.Join(root, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stat := id + " (keepalived) " + string(state) + " 1 " + id + " " + id
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
}

// preflight are the checks Run makes, in order, before the host changes.
var preflight = []string{
	"check-config-path", "prepare-run-dir", "lock", "open-net", "choose-interface", "wait-interface",
	"node-address", "address-conflicts", "check-config", "open-table",
}

// TestStartAndGracefulStop: the whole sequence, in order; keepalived gets
// the bytes `keepalived -t` passed without a second render, a reload
// renders again, and a stop releases the VIPs before the agent lets go of
// the network and the lock.
func TestStartAndGracefulStop(t *testing.T) {
	tmpl := filepath.Join(t.TempDir(), "keepalived.conf.tmpl")
	if err := os.WriteFile(tmpl, []byte("{{ .RouterID }}{{ range .Instances }} {{ .Name }}{{ end }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "OPENSHIFT_HA_KEEPALIVED_TEMPLATE="+tmpl)
	f := newFakeHost()
	d := f.deps(t)
	writeProc(t, d.ProcRoot, fakePID, 'S')
	// A template changed after the check must not reach keepalived's
	// start: the checked bytes must.
	f.afterCheck = func() { _ = os.WriteFile(tmpl, []byte("changed {{ .RouterID }}\n"), 0o644) }

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var first, reloaded []byte
	var live bool
	var why string
	f.supervise = func(ctx context.Context, o supervisor.Options) error {
		var err error
		if first, err = o.Render(ctx); err != nil {
			return err
		}
		if reloaded, err = o.Render(ctx); err != nil {
			return err
		}
		return runKeepalived(ctx, f, o, func() {
			live, why = o.Liveness()
			cancel() // SIGTERM
		})
	}
	if err := Run(ctx, cfg, d, nil); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := append(slices.Clone(preflight),
		"remove-addresses", "insert", "json-signal", "supervise", "keepalived-start",
		"keepalived-stop", "remove-addresses", "close-net", "unlock")
	if got := f.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls\n got %v\nwant %v", got, want)
	}
	if all := f.allCalls(); slices.Index(all, "chain-exists") > slices.Index(all, "remove-addresses") {
		t.Errorf("the chain was checked after the host changed: %v", all)
	}
	if string(first) != "ipf ipf_VIP_1 ipf_VIP_2\n" || !bytes.Equal(first, f.checked) {
		t.Errorf("first render %q, checked %q: want the checked bytes", first, f.checked)
	}
	if string(reloaded) != "changed ipf\n" {
		t.Errorf("reload rendered %q, want the changed template", reloaded)
	}
	if !live || why != "" {
		t.Errorf("liveness of a running keepalived: %v %q", live, why)
	}
	if len(f.chain) != 1 || !strings.Contains(strings.Join(f.chain[0], " "), "--comment ipfailover ipf vrrp -j ACCEPT") {
		t.Errorf("chain %q", f.chain)
	}
	fifo := filepath.Join(RunDir(d.RunDirRoot, cfg), fifoName)
	if _, err := os.Lstat(fifo); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("FIFO left behind: %v", err)
	}
}

// TestPreflightFailureChangesNothing injects a failure at every pre-flight
// step: Run must return it without any change to the host, releasing what
// it took.
func TestPreflightFailureChangesNothing(t *testing.T) {
	boom := errors.New("boom")
	type tc struct {
		name    string
		setup   func(*fakeHost, *env.Config)
		invalid bool // a configuration problem (*env.InvalidError)
	}
	cases := []tc{
		{name: "template unreadable", invalid: true, setup: func(_ *fakeHost, c *env.Config) { c.KeepalivedTemplate = "/nonexistent/tmpl" }},
		{name: "no interface address for unicast peers", invalid: true, setup: func(_ *fakeHost, c *env.Config) {
			*c = testConfig(t, "OPENSHIFT_HA_UNICAST_PEERS=192.0.2.10")
		}},
		{name: "VIP already on the node", invalid: true, setup: func(f *fakeHost, c *env.Config) { f.conflicts = []netip.Addr{c.VIPs[0].Addr()} }},
		{name: "chain missing", invalid: true, setup: func(f *fakeHost, _ *env.Config) { f.noChain = true }},
		{name: "chain-exists", setup: func(f *fakeHost, _ *env.Config) { f.fail["chain-exists"] = boom }},
	}
	for _, step := range preflight {
		cases = append(cases, tc{name: step, setup: func(f *fakeHost, _ *env.Config) { f.fail[step] = boom }})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeHost()
			cfg := testConfig(t)
			c.setup(f, &cfg)
			err := Run(t.Context(), cfg, f.deps(t), nil)
			var inv *env.InvalidError
			switch {
			case err == nil:
				t.Fatal("Run succeeded")
			case c.invalid && !errors.As(err, &inv):
				t.Errorf("error %v, want *env.InvalidError", err)
			case !c.invalid && !errors.Is(err, boom):
				t.Errorf("error %v, want the injected one", err)
			}
			if m := f.mutations(); len(m) > 0 {
				t.Errorf("host changed: %v (calls %v)", m, f.allCalls())
			}
			if f.count("supervise") > 0 || f.count("json-signal") > 0 {
				t.Errorf("went past the pre-flight: %v", f.allCalls())
			}
			checkReleased(t, f)
		})
	}
}

// checkReleased: the lock and the network are let go of if taken.
func checkReleased(t *testing.T, f *fakeHost) {
	t.Helper()
	if f.fail["lock"] == nil && f.count("lock") != f.count("unlock") {
		t.Errorf("lock not released: %v", f.allCalls())
	}
	if f.fail["open-net"] == nil && f.count("open-net") != f.count("close-net") {
		t.Errorf("network not closed: %v", f.allCalls())
	}
}

// TestCancelAtEachStep: a SIGTERM at any step before the host changed is a
// clean stop (nil) with the host as it was; after it changed, still a
// clean stop, without starting keepalived.
func TestCancelAtEachStep(t *testing.T) {
	for _, step := range append(slices.Clone(preflight), "chain-exists", "remove-addresses", "insert", "json-signal") {
		t.Run(step, func(t *testing.T) {
			f := newFakeHost()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			f.onCall = func(name string) {
				if name == step {
					cancel()
				}
			}
			if err := Run(ctx, testConfig(t), f.deps(t), nil); err != nil {
				t.Fatalf("Run: %v", err)
			}
			before := slices.Contains(preflight, step) || step == "chain-exists"
			if m := f.mutations(); before && len(m) > 0 {
				t.Errorf("host changed: %v", m)
			}
			if f.count("keepalived-start") > 0 {
				t.Errorf("keepalived started after the stop: %v", f.allCalls())
			}
			checkReleased(t, f)
		})
	}
}

// TestSupervisorFailure: keepalived cannot be started; the error comes
// back, and the monitor, network and lock are released.
func TestSupervisorFailure(t *testing.T) {
	f := newFakeHost()
	f.fail["supervise"] = errors.New("start keepalived: no such file")
	d := f.deps(t)
	cfg := testConfig(t)
	if err := Run(t.Context(), cfg, d, nil); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("Run: %v", err)
	}
	checkReleased(t, f)
	if _, err := os.Lstat(filepath.Join(RunDir(d.RunDirRoot, cfg), fifoName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("FIFO left behind: %v", err)
	}
}

// TestMonitorFailureReleasesVIPs: when watching keepalived cannot start
// (here a file in the FIFO's place), the VIPs are released again and
// keepalived is never started.
func TestMonitorFailureReleasesVIPs(t *testing.T) {
	f := newFakeHost()
	d := f.deps(t)
	cfg := testConfig(t)
	dir := RunDir(d.RunDirRoot, cfg)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, fifoName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Run(t.Context(), cfg, d, nil); err == nil || !strings.Contains(err.Error(), "in the way") {
		t.Fatalf("Run: %v", err)
	}
	if got := f.count("remove-addresses"); got != 2 || f.count("supervise") > 0 {
		t.Errorf("calls %v: want stale removal and release, no keepalived", f.allCalls())
	}
	checkReleased(t, f)
}

// TestNoRuleManaged: with OPENSHIFT_HA_IPTABLES_CHAIN empty the firewall
// is never opened.
func TestNoRuleManaged(t *testing.T) {
	f := newFakeHost()
	f.supervise = func(ctx context.Context, o supervisor.Options) error {
		return runKeepalived(ctx, f, o, func() {})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := Run(ctx, testConfig(t, "OPENSHIFT_HA_IPTABLES_CHAIN="), f.deps(t), nil); err != nil {
		t.Fatal(err)
	}
	if f.count("open-table") > 0 || f.count("insert") > 0 || f.count("keepalived-start") != 1 {
		t.Errorf("calls %v", f.allCalls())
	}
}
