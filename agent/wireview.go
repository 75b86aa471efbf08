package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/render"
	"github.com/ipfailover/ipfailover/vrrpstate"
	"github.com/ipfailover/ipfailover/wire"
)

// The wire view: the agent listens to VRRP on its interface (below the host
// firewall, package wire), keeps a table of every advertiser on the segment,
// logs conflicts with other configurations and between nodes once each, and
// holds back at start any instance whose VRID another configuration already
// masters with a different VIP list (the rollout guard,
// OPENSHIFT_HA_CONFLICT_POLICY=refuse). The listener is an aid, never a
// condition: when it cannot be opened (no CAP_NET_RAW) or fails, the agent
// runs every instance as it would without it.

// wireTick is how often the view re-evaluates held-back instances and logs
// conflict changes.
const wireTick = time.Second

// minConflictHold is the least time a conflict stays reported after the
// table last showed it (see wireView.hold).
const minConflictHold = 10 * time.Second

// wireSource delivers adverts: *wire.Listener.
type wireSource interface {
	Run(ctx context.Context, handle func(*wire.Advert)) error
	Close() error
}

// openWire opens the listener on an interface. Tests replace it, so that
// unit tests of the run sequence never open a raw socket on the host.
var openWire = func(ifname string) (wireSource, error) { return wire.Listen(ifname) }

// wireView is one run's wire view. Its methods are safe for concurrent use;
// a nil *wireView (no listener) holds nothing back and reports nothing.
type wireView struct {
	log    *slog.Logger
	plan   render.Plan
	policy env.ConflictPolicy
	tab    *wire.Table
	src    wireSource
	// keys maps keepalived's instance names to their VRID and family, for
	// the receive counters of the JSON dump.
	keys    map[string]wire.Key
	window  time.Duration
	tracker wire.Tracker
	// kick asks the supervisor for a re-render (reloads).
	kick chan struct{}
	// startable is closed once keepalived may start: the listen window is
	// over and at least one instance may run.
	startable chan struct{}
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	// hold is how long a conflict stays reported after it was last
	// seen. Two masters of one VRID that reject each other's adverts (a
	// collision) also hold back their own: keepalived restarts its advert
	// timer on every advert it receives, rejected or not, so on the wire
	// the pair alternates irregularly and either may be silent for
	// several seconds (7 s measured at 1 s adverts), longer than a
	// source's expiry. Without a hold such a conflict would be raised and
	// cleared every few seconds, in the log and in the alerting metric.
	hold time.Duration

	mu      sync.Mutex
	seen    map[conflictID]seenConflict
	onRaise func(message string)
	phase   wirePhase
	held    map[render.InstanceKey]string // instance held back -> why
	reasons []string                      // what /readyz says while held
}

type wirePhase int

const (
	// listening: the window is not over; nothing may start yet.
	phaseListening wirePhase = iota
	// guarding: the window is over; held instances wait for their
	// conflict to go away.
	phaseGuarding
	// off: the guard no longer holds anything back (policy warn, or the
	// listener failed).
	phaseOff
)

// openWireView opens the listener on the plan's interface and starts
// filling the table and evaluating it; close stops both. It returns nil,
// after one warning, when the listener cannot be opened.
func openWireView(ctx context.Context, p render.Plan, log *slog.Logger) *wireView {
	log = log.With("component", "wire")
	ifname := p.Host.Interface
	src, err := openWire(ifname)
	if err != nil {
		log.Warn("cannot listen to VRRP on the wire; running without the segment view, conflict detection and rollout guard",
			"interface", ifname, "err", err)
		return nil
	}
	instances := wireInstances(p, interfaceMTU(ifname))
	w := &wireView{
		log: log, plan: p, policy: p.Config.ConflictPolicy, src: src,
		tab:       wire.NewTable(nil, wire.Limits{}),
		keys:      map[string]wire.Key{},
		window:    wire.ListenWindow(instances),
		kick:      make(chan struct{}, 1),
		startable: make(chan struct{}),
		held:      map[render.InstanceKey]string{},
		seen:      map[conflictID]seenConflict{},
	}
	w.hold = max(minConflictHold, 3*w.window)
	w.setLocal(p, instances)
	if w.policy == env.ConflictWarn {
		w.phase = phaseOff
		close(w.startable)
	} else {
		for _, in := range p.Instances {
			w.held[in.Key()] = "listening"
		}
		w.reasons = []string{fmt.Sprintf("listening to the segment for %s before starting keepalived (rollout guard)", w.window)}
	}
	ctx, w.cancel = context.WithCancel(ctx)
	w.wg.Go(func() { w.listen(ctx) })
	w.wg.Go(func() { w.run(ctx) })
	log.Info("listening to VRRP on the wire", "interface", ifname, "instances", len(instances),
		"policy", string(w.policy), "window", w.window)
	return w
}

// setPlan tells the view about a new plan (the same configuration
// re-planned, e.g. for a changed node set): the instances the table
// compares with, the peers, and the plan held instances are left out of.
func (w *wireView) setPlan(p render.Plan) {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.plan = p
	w.mu.Unlock()
	w.setLocal(p, wireInstances(p, interfaceMTU(p.Host.Interface)))
}

func (w *wireView) setLocal(p render.Plan, instances []wire.Instance) {
	keys := make(map[string]wire.Key, len(instances))
	for _, in := range instances {
		keys[in.Name] = in.Key()
	}
	local := localAddrs(p, p.Host.Interface)
	var peers []netip.Addr
	for _, a := range append(slices.Clone(p.Config.UnicastPeers), p.Options.Nodes...) {
		if a = a.Unmap(); !slices.Contains(local, a) && !slices.Contains(peers, a) {
			peers = append(peers, a)
		}
	}
	w.mu.Lock()
	w.keys = keys
	w.mu.Unlock()
	w.tab.SetLocal(wire.Local{Interface: p.Host.Interface, Addrs: local, Peers: peers, Instances: instances})
}

// onConflict has f called with every conflict raised or changed (after it
// is logged), e.g. to record it as a Kubernetes Event; f must not block.
func (w *wireView) onConflict(f func(message string)) {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.onRaise = f
	w.mu.Unlock()
}

// listen runs the listener until ctx ends or it fails. A failure turns the
// guard off: holding instances back on a view that no longer updates could
// block failover for good.
func (w *wireView) listen(ctx context.Context) {
	defer w.src.Close()
	err := w.src.Run(ctx, w.tab.Observe)
	if ctx.Err() != nil {
		return
	}
	w.log.Warn("VRRP listener stopped; the segment view ages out and no instance is held back any more", "err", err)
	w.release("the VRRP listener stopped")
}

// run re-evaluates the segment every wireTick until ctx ends: it logs
// conflict changes and, after the listen window, releases held instances
// whose conflict is gone.
func (w *wireView) run(ctx context.Context) {
	// The first evaluation is exactly at the end of the window, so that
	// keepalived starts without waiting for the next tick.
	first := time.NewTimer(w.window)
	defer first.Stop()
	tick := time.NewTicker(wireTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-first.C:
		case <-tick.C:
		}
		w.evaluate()
	}
}

// evaluate is one round of run.
func (w *wireView) evaluate() {
	snap := w.Snapshot()
	w.logChanges(snap, w.tracker.Update(snap.Conflicts))
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.phase == phaseOff {
		return
	}
	if snap.Taken.Sub(snap.Since) < w.window {
		return // the reason set at open says so
	}
	verdicts := wire.Guard(snap)
	released := false
	var reasons []string
	for _, v := range verdicts {
		k := render.InstanceKey{VRID: int(v.VRID), Family: familyOf(v.Family)}
		was, held := w.held[k]
		switch {
		case !held:
		case v.Start:
			delete(w.held, k)
			released = true
			if w.phase == phaseGuarding {
				w.log.Info("instance released by the rollout guard: the conflicting master is gone; starting it",
					"instance", v.Instance, "vrid", v.VRID, "family", v.Family.String(), "verdict", v.Reason)
			}
		default:
			w.held[k] = v.Reason
			reasons = append(reasons, v.Reason)
			if was != v.Reason {
				w.log.Warn("instance held back by the rollout guard: another configuration masters its VRID with other VIPs; it starts once that master is gone (OPENSHIFT_HA_CONFLICT_POLICY=warn starts it anyway)",
					"instance", v.Instance, "vrid", v.VRID, "family", v.Family.String(), "reason", v.Reason)
			}
		}
	}
	w.reasons = reasons
	if w.phase == phaseListening {
		w.phase = phaseGuarding
		if len(w.held) < len(w.plan.Instances) {
			close(w.startable)
		}
		return
	}
	if !released {
		return
	}
	if !isClosed(w.startable) {
		// Everything was held so far: keepalived starts now, with the
		// released instances.
		close(w.startable)
		return
	}
	w.reload()
}

// release turns the guard off and starts whatever was held.
func (w *wireView) release(why string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.phase == phaseOff {
		return
	}
	w.phase = phaseOff
	w.reasons = nil
	had := len(w.held) > 0
	clear(w.held)
	if !isClosed(w.startable) {
		close(w.startable)
		return
	}
	if had {
		w.log.Warn("starting every held-back instance: " + why)
		w.reload()
	}
}

func (w *wireView) reload() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// awaitStart blocks until keepalived may start: at once without a view
// (nil), else after the listen window once at least one instance may run.
// It returns false when ctx ended first.
func (w *wireView) awaitStart(ctx context.Context) bool {
	if w == nil {
		return true
	}
	select {
	case <-w.startable:
		return true
	case <-ctx.Done():
		return false
	}
}

// reloads merges the agent's reload requests (SIGHUP) with the view's own,
// which it sends when a held instance is released. Without a guard the
// agent's channel is returned as it is.
func (w *wireView) reloads(ctx context.Context, hup <-chan struct{}) <-chan struct{} {
	if w == nil || w.policy == env.ConflictWarn {
		return hup
	}
	return mergeReloads(ctx, hup, w.kick, nil)
}

// render wraps the supervisor's Render: with nothing held back it is next
// (whose first call returns the bytes the pre-flight check accepted), else
// the current plan without the held instances. Only vrrp_instance blocks
// differ, so releasing one later reloads keepalived without disturbing the
// others. plan is the current plan: every render passes it to setPlan, so
// a re-plan (a changed peer set) reaches the table with its reload.
func (w *wireView) render(next func(context.Context) ([]byte, error), plan func() render.Plan) func(context.Context) ([]byte, error) {
	if w == nil {
		return next
	}
	return func(ctx context.Context) ([]byte, error) {
		p := plan()
		w.setPlan(p)
		skip := w.skipped()
		if len(skip) == 0 {
			return next(ctx)
		}
		return configText(p.Without(skip))
	}
}

// skipped is the set of instances held back now.
func (w *wireView) skipped() map[render.InstanceKey]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.held) == 0 {
		return nil
	}
	out := make(map[render.InstanceKey]bool, len(w.held))
	for k := range w.held {
		out[k] = true
	}
	return out
}

// Blocked says why instances are held back, for /readyz; nil when none is.
func (w *wireView) Blocked() []string {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.held) == 0 {
		return nil
	}
	return slices.Clone(w.reasons)
}

// Snapshot is the segment as heard now (wire.Snapshotter, for /status and
// the metrics collector).
// Its conflicts are those of the table plus those seen within the hold.
func (w *wireView) Snapshot() wire.Snapshot {
	snap := w.tab.Snapshot()
	snap.Conflicts = w.withHeld(snap.Conflicts, snap.Taken)
	return snap
}

// conflictID identifies a conflict across snapshots, as wire.Tracker does.
type conflictID struct {
	kind wire.Kind
	key  wire.Key
}

type seenConflict struct {
	c    wire.Conflict
	last time.Time
}

// withHeld records the conflicts found at now and returns them with those
// found within the hold before, ordered as wire.Detect orders them.
func (w *wireView) withHeld(found []wire.Conflict, now time.Time) []wire.Conflict {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range found {
		w.seen[conflictID{c.Kind, c.Key()}] = seenConflict{c, now}
	}
	out := make([]wire.Conflict, 0, len(w.seen))
	for id, s := range w.seen {
		if now.Sub(s.last) > w.hold {
			delete(w.seen, id)
			continue
		}
		out = append(out, s.c)
	}
	slices.SortFunc(out, func(a, b wire.Conflict) int {
		if a.Family != b.Family {
			return int(a.Family) - int(b.Family)
		}
		if a.VRID != b.VRID {
			return int(a.VRID) - int(b.VRID)
		}
		return slices.Index(wire.Kinds, a.Kind) - slices.Index(wire.Kinds, b.Kind)
	})
	if len(out) == 0 {
		return nil
	}
	return out
}

// UpdateRx passes keepalived's receive counters from a JSON dump: per
// instance, adverts received plus every receive error, so that an advert
// keepalived rejects still counts as having reached it.
func (w *wireView) UpdateRx(stats map[string]vrrpstate.Stats) {
	if w == nil {
		return
	}
	w.mu.Lock()
	keys := w.keys
	w.mu.Unlock()
	rx := make(map[wire.Key]uint64, len(stats))
	for name, s := range stats {
		k, ok := keys[name]
		if !ok {
			continue
		}
		rx[k] = s.AdvertRcvd + s.PriZeroRcvd + s.PacketLenErr + s.AdvertIntervalErr + s.IPTTLErr +
			s.InvalidTypeRcvd + s.AddrListErr + s.InvalidAuthtype + s.AuthtypeMismatch + s.AuthFailure
	}
	w.tab.UpdateRx(rx)
}

// logChanges logs each conflict once when it appears, when the sources
// involved change and when it clears: ERROR for the kinds that put VIPs on
// two nodes, WARN for the others.
func (w *wireView) logChanges(snap wire.Snapshot, changes []wire.Change) {
	w.mu.Lock()
	onRaise := w.onRaise
	w.mu.Unlock()
	for _, ch := range changes {
		c := ch.Conflict
		attrs := []any{"kind", string(c.Kind), "vrid", c.VRID, "family", c.Family.String(),
			"sources", addrStrings(c.Sources), "detail", c.Detail}
		if c.Instance != "" {
			attrs = append(attrs, "instance", c.Instance)
		}
		if g := snap.Group(c.Key()); g != nil {
			var heard []string
			for _, s := range g.Sources {
				if slices.Contains(c.Sources, s.Addr) {
					heard = append(heard, s.Addr.String()+"="+strings.Join(addrStrings(s.VIPs), ","))
				}
			}
			attrs = append(attrs, "vips", heard)
		}
		for _, in := range snap.Instances {
			if in.Key() == c.Key() {
				attrs = append(attrs, "our_vips", addrStrings(in.VIPs))
			}
		}
		switch {
		case ch.Event == wire.Cleared:
			w.log.Info("VRRP conflict on the segment cleared: "+string(c.Kind), attrs...)
		case c.Kind == wire.Collision || c.Kind == wire.SplitBrain:
			w.log.Error("VRRP conflict on the segment "+ch.Event+": "+string(c.Kind), attrs...)
		default:
			w.log.Warn("VRRP conflict on the segment "+ch.Event+": "+string(c.Kind), attrs...)
		}
		if onRaise != nil && ch.Event != wire.Cleared {
			onRaise(c.String())
		}
	}
}

// close stops the listener and the evaluation and waits for both.
func (w *wireView) close() {
	if w == nil {
		return
	}
	w.cancel()
	w.wg.Wait()
}

// snapshotter is the view as a wire.Snapshotter, or nil without a view (a
// nil *wireView must not become a non-nil interface).
func (w *wireView) snapshotter() wire.Snapshotter {
	if w == nil {
		return nil
	}
	return w
}

// wireInstances is what keepalived runs for p as the wire shows it: each
// instance's VRID, family, the VIPs it puts in its adverts, interval,
// version and authentication type.
func wireInstances(p render.Plan, mtu int) []wire.Instance {
	interval := p.Config.AdvertInterval
	if interval <= 0 {
		interval = time.Second
	}
	data := p.Data()
	out := make([]wire.Instance, 0, len(p.Instances))
	for i, in := range p.Instances {
		fam := wire.IPv4
		if in.Family == env.IPv6 {
			fam = wire.IPv6
		}
		var auth uint8
		if data.Instances[i].AuthPass != "" {
			auth = 1 // PASS
		}
		vips := make([]netip.Addr, 0, len(in.VIPs))
		for _, v := range in.VIPs {
			vips = append(vips, v.Addr())
		}
		if n := advertCapacity(fam, in.Version, mtu); len(vips) > n {
			vips = vips[:n]
		}
		out = append(out, wire.Instance{Name: in.Name, VRID: uint8(in.VRID), Family: fam, VIPs: vips,
			Interval: interval, Version: uint8(in.Version), AuthType: auth})
	}
	return out
}

// advertCapacity is how many VIPs keepalived 2.2 puts in one advert on an
// interface of the given MTU: what fits after the Ethernet, IP and VRRP
// headers (and VRRPv2's authentication data), at most 255. It moves the
// rest to virtual_ipaddress_excluded, which adverts do not carry.
func advertCapacity(fam wire.Family, version int, mtu int) int {
	const ether, vrrpHeader, authData = 14, 8, 8
	hdr, size := ether+20+vrrpHeader, 4
	if fam == wire.IPv6 {
		hdr, size = ether+40+vrrpHeader, 16
	} else if version == 2 {
		hdr += authData
	}
	return max(0, min(255, (mtu-hdr)/size))
}

// interfaceMTU is the interface's MTU, or Ethernet's 1500 when unknown.
func interfaceMTU(ifname string) int {
	if ifi, err := net.InterfaceByName(ifname); err == nil && ifi.MTU > 0 {
		return ifi.MTU
	}
	return 1500
}

// localAddrs are this node's addresses adverts of ours may come from: the
// node addresses, the configured source addresses and the interface's other
// addresses (IPv6 adverts leave from the link-local one), VIPs excluded.
func localAddrs(p render.Plan, ifname string) []netip.Addr {
	vips := map[netip.Addr]bool{}
	for _, in := range p.Instances {
		for _, v := range in.VIPs {
			vips[v.Addr()] = true
		}
	}
	var out []netip.Addr
	add := func(a netip.Addr) {
		a = a.Unmap().WithZone("")
		if a.IsValid() && !vips[a] && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	add(p.Host.Addr4)
	add(p.Host.Addr6)
	add(p.Config.MulticastSource)
	add(p.Config.UnicastSource)
	if ifi, err := net.InterfaceByName(ifname); err == nil {
		if as, err := ifi.Addrs(); err == nil {
			for _, a := range as {
				if n, ok := a.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(n.IP); ok {
						add(ip)
					}
				}
			}
		}
	}
	return out
}

func familyOf(f wire.Family) env.Family {
	if f == wire.IPv6 {
		return env.IPv6
	}
	return env.IPv4
}

func addrStrings(as []netip.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
