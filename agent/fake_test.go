package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/iptables"
	"github.com/ipfailover/ipfailover/supervisor"
)

// mutating are the calls that change the host: none may happen before
// every pre-flight check passed.
var mutating = []string{"remove-addresses", "insert", "delete", "keepalived-start"}

// fakeHost is every dependency of the agent at once (HostNet, Firewall,
// iptables.Table, Keepalived), recording the calls in order. A call named
// in fail returns that error; onCall runs at every call (to cancel at a
// given step).
type fakeHost struct {
	mu     sync.Mutex
	calls  []string
	fail   map[string]error
	onCall func(name string)

	nodeAddr  netip.Addr
	conflicts []netip.Addr
	noChain   bool
	chain     [][]string // the rules of the chain, as specs
	checked   []byte     // what `keepalived -t` was given
	// afterCheck runs after `keepalived -t` passed.
	afterCheck func()
	// supervise replaces the default supervisor (see runKeepalived).
	supervise func(ctx context.Context, o supervisor.Options) error
}

func newFakeHost() *fakeHost {
	return &fakeHost{fail: map[string]error{}, nodeAddr: netip.MustParseAddr("192.0.2.10")}
}

func (f *fakeHost) call(name string) error {
	f.mu.Lock()
	f.calls = append(f.calls, name)
	err, hook := f.fail[name], f.onCall
	f.mu.Unlock()
	if hook != nil {
		hook(name)
	}
	return err
}

// Calls returns the recorded calls, without the reads that the monitor's
// rule read-back interleaves.
func (f *fakeHost) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(f.calls), func(c string) bool {
		return c == "chain-exists" || c == "list" || c == "all-addresses"
	})
}

func (f *fakeHost) allCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeHost) count(name string) int {
	n := 0
	for _, c := range f.allCalls() {
		if c == name {
			n++
		}
	}
	return n
}

// mutations are the mutating calls made, in order.
func (f *fakeHost) mutations() []string {
	return slices.DeleteFunc(f.allCalls(), func(c string) bool { return !slices.Contains(mutating, c) })
}

func (f *fakeHost) deps(t *testing.T) Deps {
	return Deps{
		OpenNet: func() (HostNet, error) {
			if err := f.call("open-net"); err != nil {
				return nil, err
			}
			return f, nil
		},
		Firewall: f, Keepalived: f,
		RunDirRoot: t.TempDir(), ProcRoot: t.TempDir(),
		Log: slog.New(slog.DiscardHandler), Version: "test",
	}
}

// HostNet.

func (f *fakeHost) ChooseInterface(explicit string, _ []netip.Prefix) (string, string, error) {
	return "eth0", "test", f.call("choose-interface")
}

func (f *fakeHost) WaitForInterface(ctx context.Context, _ string, _ int, _ []netip.Prefix, _ time.Duration, _ *slog.Logger) (netip.Addr, error) {
	if err := f.call("wait-interface"); err != nil {
		return netip.Addr{}, err
	}
	return f.nodeAddr, ctx.Err()
}

func (f *fakeHost) NodeAddress(string, int, []netip.Prefix) (netip.Addr, error) {
	return f.nodeAddr, f.call("node-address")
}

func (f *fakeHost) AddressConflicts(string, []netip.Prefix) ([]netip.Addr, error) {
	return f.conflicts, f.call("address-conflicts")
}

func (f *fakeHost) RemoveAddresses(string, []netip.Prefix, *slog.Logger) ([]netip.Prefix, error) {
	return nil, f.call("remove-addresses")
}

func (f *fakeHost) AllAddresses() (map[string][]netip.Prefix, error) {
	return map[string][]netip.Prefix{"eth0": {netip.PrefixFrom(f.nodeAddr, 24)}}, f.call("all-addresses")
}

func (f *fakeHost) Close() { _ = f.call("close-net") }

// Firewall and iptables.Table.

func (f *fakeHost) Open(ipv6 bool) (iptables.Table, error) {
	if err := f.call("open-table"); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *fakeHost) ChainExists(string, string) (bool, error) {
	return !f.noChain, f.call("chain-exists")
}

func (f *fakeHost) List(_, chain string) ([]string, error) {
	if err := f.call("list"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []string{"-P " + chain + " ACCEPT"}
	for _, spec := range f.chain {
		words := []string{"-A", chain}
		for _, w := range spec {
			if strings.Contains(w, " ") {
				w = `"` + w + `"`
			}
			words = append(words, w)
		}
		out = append(out, strings.Join(words, " "))
	}
	return out, nil
}

func (f *fakeHost) Insert(_, _ string, pos int, spec ...string) error {
	if err := f.call("insert"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.chain = slices.Insert(f.chain, pos-1, spec)
	return nil
}

func (f *fakeHost) Delete(_, _ string, spec ...string) error {
	if err := f.call("delete"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.chain = slices.DeleteFunc(f.chain, func(s []string) bool { return slices.Equal(s, spec) })
	return nil
}

// Keepalived.

func (f *fakeHost) CheckConfigPath(string) error { return f.call("check-config-path") }

func (f *fakeHost) PrepareRunDir(dir string) error {
	if err := f.call("prepare-run-dir"); err != nil {
		return err
	}
	return os.MkdirAll(dir, 0o700)
}

func (f *fakeHost) Lock(string) (func(), error) {
	if err := f.call("lock"); err != nil {
		return nil, err
	}
	return func() { _ = f.call("unlock") }, nil
}

func (f *fakeHost) CheckConfig(ctx context.Context, conf []byte, _ time.Duration) error {
	if err := f.call("check-config"); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	f.checked = slices.Clone(conf)
	after := f.afterCheck
	f.mu.Unlock()
	if after != nil {
		after()
	}
	return nil
}

func (f *fakeHost) JSONSignal(context.Context) (syscall.Signal, error) {
	// No heartbeat: it would signal the fake keepalived's pid.
	return 0, errors.Join(f.call("json-signal"), errors.New("no JSON support in the fake"))
}

func (f *fakeHost) Supervise(ctx context.Context, o supervisor.Options, _ <-chan struct{}) error {
	if err := f.call("supervise"); err != nil {
		return err
	}
	if f.supervise != nil {
		return f.supervise(ctx, o)
	}
	return runKeepalived(ctx, f, o, nil)
}

// fakePID is the fake keepalived's pid.
const fakePID = 4242

// runKeepalived plays the supervisor: like supervisor.Run it returns nil
// without starting keepalived when ctx already ended; else it installs the
// first render, starts keepalived, calls running (if set) once keepalived
// is ready, and on cancellation stops it and releases the VIPs.
func runKeepalived(ctx context.Context, f *fakeHost, o supervisor.Options, running func()) error {
	if ctx.Err() != nil {
		o.OnEvent(supervisor.Event{Kind: supervisor.EventStopped})
		return nil
	}
	if _, err := o.Render(ctx); err != nil {
		return err
	}
	o.OnEvent(supervisor.Event{Kind: supervisor.EventReloadOK, Trigger: supervisor.TriggerStart})
	_ = f.call("keepalived-start")
	o.OnEvent(supervisor.Event{Kind: supervisor.EventStarted, PID: fakePID})
	o.OnEvent(supervisor.Event{Kind: supervisor.EventReady, PID: fakePID})
	if running != nil {
		running()
	}
	<-ctx.Done()
	_ = f.call("keepalived-stop")
	o.OnEvent(supervisor.Event{Kind: supervisor.EventExited, PID: fakePID, Expected: true, Reason: "stopped"})
	if err := o.ReleaseVIPs(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	o.OnEvent(supervisor.Event{Kind: supervisor.EventStopped})
	return nil
}
