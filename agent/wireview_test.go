package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/render"
	"github.com/ipfailover/ipfailover/vrrpstate"
	"github.com/ipfailover/ipfailover/wire"
)

// The run sequence's unit tests never open a raw socket on the host: the
// wire view is off unless a test installs a fake source.
func init() {
	openWire = func(string) (wireSource, error) { return nil, errors.New("no VRRP listener in unit tests") }
}

// fakeWire is a wireSource fed by the test.
type fakeWire struct {
	ads  chan wire.Advert
	fail chan error
}

func newFakeWire() *fakeWire {
	return &fakeWire{ads: make(chan wire.Advert, 64), fail: make(chan error, 1)}
}

func (f *fakeWire) Run(ctx context.Context, handle func(*wire.Advert)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case a := <-f.ads:
			handle(&a)
		case err := <-f.fail:
			return err
		}
	}
}

func (f *fakeWire) Close() error { return nil }

// useFakeWire makes openWireView use f for the rest of the test.
func useFakeWire(t *testing.T, f *fakeWire) {
	t.Helper()
	old := openWire
	openWire = func(string) (wireSource, error) { return f, nil }
	t.Cleanup(func() { openWire = old })
}

// advertiser sends adverts like a keepalived master every 10 ms until
// stopped, ending with a priority 0 advert when asked (a graceful stop).
type advertiser struct {
	stop chan bool // true: send priority 0 first
	done chan struct{}
}

func advertise(f *fakeWire, a wire.Advert) *advertiser {
	ad := &advertiser{stop: make(chan bool), done: make(chan struct{})}
	go func() {
		defer close(ad.done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case bye := <-ad.stop:
				if bye {
					a.Priority = 0
					f.ads <- a
				}
				return
			case <-t.C:
				f.ads <- a
			}
		}
	}()
	return ad
}

func (a *advertiser) Stop(graceful bool) {
	a.stop <- graceful
	<-a.done
}

// wirePlan is two groups (VRIDs 11 and 12) at 10 ms adverts, so the listen
// window is 1.03 s.
func wirePlan(t *testing.T, extra ...string) render.Plan {
	t.Helper()
	vars := map[string]string{"OPENSHIFT_HA_VIRTUAL_IPS": "192.0.2.200,192.0.2.201", "OPENSHIFT_HA_ADVERT_INTERVAL": "0.01"}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var environ []string
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	cfg, _, err := env.Load(environ)
	if err != nil {
		t.Fatal(err)
	}
	p, err := render.NewPlan(cfg, render.Host{Interface: "test0", Addr4: netip.MustParseAddr("192.0.2.11")},
		render.Options{CheckFile: "/run/test/check.status"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func foreignAdvert(vrid uint8, vips ...string) wire.Advert {
	a := wire.Advert{Version: 3, VRID: vrid, Priority: 200, Interval: 10 * time.Millisecond, Family: wire.IPv4,
		Src: netip.MustParseAddr("192.0.2.50"), Dst: netip.MustParseAddr("224.0.0.18"), TTL: 255, ChecksumOK: true}
	for _, v := range vips {
		a.VIPs = append(a.VIPs, netip.MustParseAddr(v))
	}
	return a
}

// syncLog is a slog text handler's buffer, safe to read while logging.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger() (*slog.Logger, *syncLog) {
	var buf syncLog
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func renderedNames(t *testing.T, render func(context.Context) ([]byte, error)) []string {
	t.Helper()
	conf, err := render(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range strings.Split(string(conf), "\n") {
		if name, ok := strings.CutPrefix(l, "vrrp_instance "); ok {
			names = append(names, strings.TrimSuffix(name, " {"))
		}
	}
	return names
}

// poll calls cond until it succeeds or timeout passes.
func poll(t *testing.T, timeout time.Duration, cond func() error) error {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWireGuardHoldsAndReleases: an instance whose VRID a foreign master
// holds with other VIPs is left out of keepalived.conf and reported; the
// other starts after the listen window; the foreign master's priority 0
// releases the held one within a tick, with a reload request.
func TestWireGuardHoldsAndReleases(t *testing.T) {
	f := newFakeWire()
	useFakeWire(t, f)
	p := wirePlan(t)
	log, buf := testLogger()
	foreign := advertise(f, foreignAdvert(11, "192.0.2.150"))
	defer func() {
		select {
		case <-foreign.done:
		default:
			foreign.Stop(false)
		}
	}()

	start := time.Now()
	w := openWireView(t.Context(), p, log)
	defer w.close()
	hup := make(chan struct{})
	reloads := w.reloads(t.Context(), hup)
	if b := w.Blocked(); len(b) != 1 || !strings.Contains(b[0], "listening to the segment") {
		t.Errorf("Blocked during the window = %q", b)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if !w.awaitStart(ctx) {
		t.Fatal("keepalived never allowed to start")
	}
	if waited := time.Since(start); waited < w.window {
		t.Errorf("started after %v, before the listen window %v", waited, w.window)
	}
	rend := w.render(renderOnce(nil, func() render.Plan { return p }), func() render.Plan { return p })
	if got := renderedNames(t, rend); !slices.Equal(got, []string{"OpenShift_IPFailover_VIP_2"}) {
		t.Errorf("rendered %v while VRID 11 is held, want only the VIP_2 instance", got)
	}
	b := w.Blocked()
	if len(b) != 1 || !strings.Contains(b[0], "VRID 11/ipv4") || !strings.Contains(b[0], "192.0.2.150") {
		t.Errorf("Blocked = %q", b)
	}
	if !strings.Contains(buf.String(), "held back by the rollout guard") {
		t.Errorf("log lacks the hold:\n%s", buf)
	}

	// A SIGHUP still reaches the supervisor through the merged channel.
	hup <- struct{}{}
	select {
	case <-reloads:
	case <-time.After(time.Second):
		t.Fatal("SIGHUP not forwarded")
	}

	stopped := time.Now()
	foreign.Stop(true)
	select {
	case <-reloads:
	case <-time.After(3 * wireTick):
		t.Fatal("no reload after the foreign master stepped down")
	}
	t.Logf("released %v after the priority 0 advert", time.Since(stopped).Round(time.Millisecond))
	if got := renderedNames(t, rend); len(got) != 2 {
		t.Errorf("rendered %v after the release, want both instances", got)
	}
	if b := w.Blocked(); b != nil {
		t.Errorf("Blocked after the release = %q", b)
	}
	if !strings.Contains(buf.String(), "released by the rollout guard") {
		t.Errorf("log lacks the release:\n%s", buf)
	}
}

// TestWireGuardAllHeld: with every instance held, keepalived does not start
// at all until one is released.
func TestWireGuardAllHeld(t *testing.T) {
	f := newFakeWire()
	useFakeWire(t, f)
	p := wirePlan(t, "OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.200")
	foreign := advertise(f, foreignAdvert(11, "192.0.2.150"))
	w := openWireView(t.Context(), p, slog.New(slog.DiscardHandler))
	defer w.close()
	ctx, cancel := context.WithTimeout(t.Context(), w.window+3*wireTick)
	defer cancel()
	started := make(chan bool, 1)
	go func() { started <- w.awaitStart(ctx) }()
	select {
	case <-started:
		t.Fatal("keepalived allowed to start with its only instance held")
	case <-time.After(w.window + 2*wireTick):
	}
	foreign.Stop(true)
	if !<-started {
		t.Fatal("not started after the foreign master stepped down")
	}
	if got := renderedNames(t, w.render(renderOnce(nil, func() render.Plan { return p }), func() render.Plan { return p })); len(got) != 1 {
		t.Errorf("rendered %v", got)
	}
}

// TestWireGuardPolicyWarn: warn starts everything at once and only logs.
func TestWireGuardPolicyWarn(t *testing.T) {
	f := newFakeWire()
	useFakeWire(t, f)
	p := wirePlan(t, "OPENSHIFT_HA_CONFLICT_POLICY=warn")
	log, buf := testLogger()
	foreign := advertise(f, foreignAdvert(11, "192.0.2.150"))
	defer foreign.Stop(false)
	w := openWireView(t.Context(), p, log)
	defer w.close()
	raised := make(chan string, 10)
	w.onConflict(func(m string) { raised <- m })
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if !w.awaitStart(ctx) || w.Blocked() != nil {
		t.Fatal("warn policy held keepalived back")
	}
	hup := make(chan struct{})
	if w.reloads(t.Context(), hup) != (<-chan struct{})(hup) {
		t.Error("warn policy should pass SIGHUP through untouched")
	}
	if got := renderedNames(t, w.render(renderOnce(nil, func() render.Plan { return p }), func() render.Plan { return p })); len(got) != 2 {
		t.Errorf("rendered %v", got)
	}
	// The collision is still logged, once, as an error.
	err := poll(t, 3*time.Second, func() error {
		if !strings.Contains(buf.String(), "level=ERROR msg=\"VRRP conflict on the segment raised: collision\"") {
			return errors.New("no collision logged yet")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v:\n%s", err, buf)
	}
	time.Sleep(2 * wireTick)
	if n := strings.Count(buf.String(), "raised: collision"); n != 1 {
		t.Errorf("collision logged %d times, want once:\n%s", n, buf)
	}
	var got []string
	for len(raised) > 0 {
		got = append(got, <-raised)
	}
	if !slices.ContainsFunc(got, func(m string) bool { return strings.HasPrefix(m, "collision on VRID 11/ipv4") }) {
		t.Errorf("onConflict got %q", got)
	}
}

// TestWirePeers: unicast peers (or the Kubernetes node set) are the table's
// peers, this node excluded, and a re-plan updates them.
func TestWirePeers(t *testing.T) {
	f := newFakeWire()
	useFakeWire(t, f)
	p := wirePlan(t, "OPENSHIFT_HA_UNICAST_PEERS=192.0.2.11,192.0.2.12")
	w := openWireView(t.Context(), p, slog.New(slog.DiscardHandler))
	defer w.close()
	if got := w.Snapshot().Peers; !slices.Equal(got, []netip.Addr{netip.MustParseAddr("192.0.2.12")}) {
		t.Errorf("peers %v, want [192.0.2.12]", got)
	}
	q := wirePlan(t)
	q.Options.Nodes = []netip.Addr{netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.13")}
	w.setPlan(q)
	if got := w.Snapshot().Peers; !slices.Equal(got, []netip.Addr{netip.MustParseAddr("192.0.2.13")}) {
		t.Errorf("peers after the re-plan %v, want [192.0.2.13]", got)
	}
}

// TestWireListenerFailureReleases: a listener that fails turns the guard
// off and starts what was held.
func TestWireListenerFailureReleases(t *testing.T) {
	f := newFakeWire()
	useFakeWire(t, f)
	p := wirePlan(t)
	foreign := advertise(f, foreignAdvert(11, "192.0.2.150"))
	w := openWireView(t.Context(), p, slog.New(slog.DiscardHandler))
	defer w.close()
	reloads := w.reloads(t.Context(), nil)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if !w.awaitStart(ctx) || len(w.skipped()) != 1 {
		t.Fatalf("want VRID 11 held, got %v", w.skipped())
	}
	foreign.Stop(false)
	f.fail <- errors.New("socket gone")
	select {
	case <-reloads:
	case <-time.After(time.Second):
		t.Fatal("no reload after the listener failed")
	}
	if w.skipped() != nil || w.Blocked() != nil {
		t.Errorf("still held: %v", w.skipped())
	}
}

// TestWireViewNil: without a listener nothing is held or reported.
func TestWireViewNil(t *testing.T) {
	w := openWireView(t.Context(), wirePlan(t), slog.New(slog.DiscardHandler))
	if w != nil {
		t.Fatal("the unit tests' openWire fails, so the view must be nil")
	}
	if !w.awaitStart(t.Context()) || w.Blocked() != nil || w.snapshotter() != nil {
		t.Error("a nil view must not hold anything")
	}
	hup := make(chan struct{})
	if w.reloads(t.Context(), hup) != (<-chan struct{})(hup) {
		t.Error("a nil view must pass SIGHUP through")
	}
	w.UpdateRx(map[string]vrrpstate.Stats{"x": {}})
	w.close()
}

// TestWireFirewallFromDumps: keepalived's counters that do not move while
// the wire carries a peer's adverts make a firewall conflict; a moving
// counter clears it.
func TestWireFirewallFromDumps(t *testing.T) {
	f := newFakeWire()
	useFakeWire(t, f)
	p := wirePlan(t)
	w := openWireView(t.Context(), p, slog.New(slog.DiscardHandler))
	defer w.close()
	peer := foreignAdvert(11, "192.0.2.200")
	peer.Src = netip.MustParseAddr("192.0.2.12")
	name := p.Instances[0].Name
	w.UpdateRx(map[string]vrrpstate.Stats{name: {AdvertRcvd: 7}})
	for range 5 {
		f.ads <- peer
	}
	firewall := func(s wire.Snapshot) bool {
		for _, c := range s.Conflicts {
			if c.Kind == wire.Firewall && c.VRID == 11 {
				return true
			}
		}
		return false
	}
	err := poll(t, time.Second, func() error {
		w.UpdateRx(map[string]vrrpstate.Stats{name: {AdvertRcvd: 7}})
		if !firewall(w.Snapshot()) {
			return errors.New("no firewall conflict")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Rejected adverts count as received: an address list error moves it.
	w.UpdateRx(map[string]vrrpstate.Stats{name: {AdvertRcvd: 7, AddrListErr: 1}})
	if firewall(w.tab.Snapshot()) {
		t.Error("firewall conflict still found after keepalived's counter moved")
	}
	// It stays reported for the hold, then clears.
	if !firewall(w.Snapshot()) {
		t.Error("firewall conflict not held")
	}
	w.mu.Lock()
	w.hold = 50 * time.Millisecond
	w.mu.Unlock()
	time.Sleep(60 * time.Millisecond)
	if firewall(w.Snapshot()) {
		t.Error("firewall conflict still reported after the hold")
	}
}

func TestWireInstances(t *testing.T) {
	p := wirePlan(t)
	ins := wireInstances(p, 1500)
	if len(ins) != 2 || ins[0].VRID != 11 || ins[0].Version != 3 || ins[0].AuthType != 0 ||
		ins[0].Interval != 10*time.Millisecond || !slices.Equal(ins[0].VIPs, []netip.Addr{netip.MustParseAddr("192.0.2.200")}) {
		t.Errorf("instances %+v", ins)
	}
	v2 := wireInstances(wirePlan(t, "OPENSHIFT_HA_ADVERT_INTERVAL=1"), 1500)
	if v2[0].Version != 2 || v2[0].AuthType != 1 || v2[0].Interval != time.Second {
		t.Errorf("VRRPv2 instance %+v", v2[0])
	}
	// keepalived moves VIPs that do not fit one advert to the excluded
	// list, which adverts do not carry.
	for _, c := range []struct {
		fam     wire.Family
		version int
		mtu     int
		want    int
	}{
		{wire.IPv4, 2, 1500, 255}, {wire.IPv6, 3, 1500, 89}, {wire.IPv4, 3, 576, 133}, {wire.IPv4, 2, 576, 131}, {wire.IPv6, 3, 60, 0},
	} {
		if got := advertCapacity(c.fam, c.version, c.mtu); got != c.want {
			t.Errorf("advertCapacity(%v, v%d, MTU %d) = %d, want %d", c.fam, c.version, c.mtu, got, c.want)
		}
	}
	many := wirePlan(t, "OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.1-200", "OPENSHIFT_HA_VIP_GROUPS=1")
	if got := wireInstances(many, 576)[0].VIPs; len(got) != 133 || got[0] != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("200 VIPs at MTU 576: %d advertised, first %v", len(got), got[0])
	}
}
