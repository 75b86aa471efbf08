// Package agent owns the node agent's run sequence. Run checks everything
// that can reject the configuration first (the environment's files, the
// paths the agent writes, the interface and the node's addresses, VIP
// conflicts, the rendered keepalived.conf through `keepalived -t`, the
// firewall chain), and only then changes the host: it removes VIPs a
// previous run left behind, inserts the multicast accept rule, starts the
// health check and the monitor, and has keepalived supervised until the
// context ends.
//
// The host is reached only through the small interfaces of Deps (host
// network, firewall, keepalived process), so the sequence is tested with
// fakes; HostDeps returns the real ones. Render and Cleanup are the render
// and cleanup commands, on the same building blocks.
package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ipfailover/ipfailover/agent/health"
	"github.com/ipfailover/ipfailover/agent/monitor"
	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/iptables"
	"github.com/ipfailover/ipfailover/render"
	"github.com/ipfailover/ipfailover/scripts"
	"github.com/ipfailover/ipfailover/supervisor"
)

const (
	// interfaceWait bounds the wait for the interface and its address at
	// start: long enough for a node's network to come up after a reboot,
	// short enough that a typo'd interface surfaces as a crash loop.
	interfaceWait = 2 * time.Minute
	// checkTimeout bounds `keepalived -t` in the pre-flight check.
	checkTimeout = 10 * time.Second
	// DefaultRunDirRoot holds per-configuration run directories (pid
	// files, TMPDIR, the notify FIFO, the check status file).
	DefaultRunDirRoot = "/run/ipfailover"
)

// HostNet is the host network as the agent uses it: *hostnet.Net.
type HostNet interface {
	// ChooseInterface picks the interface carrying the VIPs and says why.
	ChooseInterface(explicit string, firstGroupVIPs []netip.Prefix) (name, why string, err error)
	// WaitForInterface waits until ifname is up with a usable address of
	// family fam (4 or 6).
	WaitForInterface(ctx context.Context, ifname string, fam int, vips []netip.Prefix, poll time.Duration, log *slog.Logger) (netip.Addr, error)
	// NodeAddress is the node's own address of family fam on ifname.
	NodeAddress(ifname string, fam int, vips []netip.Prefix) (netip.Addr, error)
	// AddressConflicts are the VIPs some interface of the node already has.
	AddressConflicts(ifname string, vips []netip.Prefix) ([]netip.Addr, error)
	// RemoveAddresses deletes VIPs left on ifname (a change to the host).
	RemoveAddresses(ifname string, vips []netip.Prefix, log *slog.Logger) ([]netip.Prefix, error)
	// AllAddresses are the node's addresses by interface.
	AllAddresses() (map[string][]netip.Prefix, error)
	Close()
}

// Firewall opens the iptables (ipv6 false) or ip6tables table the
// multicast accept rule lives in; package iptables does the rest on it
// (iptables.New).
type Firewall interface {
	Open(ipv6 bool) (iptables.Table, error)
}

// Keepalived is the keepalived process and the files the agent keeps for
// it (package supervisor), with the binary found once.
type Keepalived interface {
	// CheckConfigPath refuses a keepalived.conf path the agent must not
	// write (supervisor.CheckConfigPath).
	CheckConfigPath(path string) error
	// PrepareRunDir creates or checks the private run directory
	// (supervisor.PrepareRunDir).
	PrepareRunDir(dir string) error
	// Lock takes the per-configuration lock (supervisor.Lock).
	Lock(path string) (unlock func(), err error)
	// CheckConfig runs `keepalived -t` on conf (supervisor.CheckConfig).
	CheckConfig(ctx context.Context, conf []byte, timeout time.Duration) error
	// JSONSignal asks keepalived which signal makes it write its JSON dump.
	JSONSignal(ctx context.Context) (syscall.Signal, error)
	// Supervise runs keepalived until ctx ends (supervisor.Run); o.Binary
	// is the implementation's.
	Supervise(ctx context.Context, o supervisor.Options, reload <-chan struct{}) error
}

// Deps are the agent's dependencies on the host and its settings.
type Deps struct {
	// OpenNet opens the host network when a step first needs it.
	OpenNet    func() (HostNet, error)
	Firewall   Firewall
	Keepalived Keepalived
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// RunDirRoot holds the run directories (default DefaultRunDirRoot).
	RunDirRoot string
	// ProcRoot is where /proc is mounted (default /proc).
	ProcRoot string
	Log      *slog.Logger
	// Version is stamped into keepalived.conf and the status document.
	Version string
	// Getenv reads the pod's environment for the Kubernetes API features
	// (KUBERNETES_SERVICE_HOST, POD_NAME...; nil: none, features off).
	Getenv func(string) string
	// ServiceAccountDir holds the in-cluster credentials ("": client-go's
	// usual place).
	ServiceAccountDir string
}

func (d Deps) withDefaults() Deps {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.RunDirRoot == "" {
		d.RunDirRoot = DefaultRunDirRoot
	}
	if d.ProcRoot == "" {
		d.ProcRoot = "/proc"
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Getenv == nil {
		d.Getenv = func(string) string { return "" }
	}
	return d
}

// Run is the node agent: it runs cfg on this node until ctx ends, then stops
// keepalived, releases the VIPs and returns nil. reload asks for a
// re-render (SIGHUP).
//
// Everything that can reject the configuration is checked before anything
// on the host is changed; such a rejection is returned as an error
// (*env.InvalidError for the configuration's own problems) with the host
// as it was. A ctx ended before the host was changed returns nil, with the
// host as it was.
func Run(ctx context.Context, cfg env.Config, d Deps, reload <-chan struct{}) error {
	d = d.withDefaults()
	r := &run{cfg: cfg, d: d, log: d.Log, dir: RunDir(d.RunDirRoot, cfg)}
	unlock, err := r.claimFiles()
	if err != nil {
		return err
	}
	defer unlock()
	if r.net, err = d.OpenNet(); err != nil {
		return err
	}
	defer r.net.Close()
	// The Kubernetes API features only read the API; the first peer set
	// is waited for briefly so the first config has the exact placement.
	r.kube = startKube(ctx, cfg, d.Getenv, d.ServiceAccountDir, r.log)
	r.kube.waitSynced(ctx)
	if ok, err := r.preflight(ctx); !ok {
		return err
	}
	// From here on the host is changed.
	if err := r.changeHost(); err != nil {
		return err
	}
	return r.supervise(ctx, reload)
}

// run is one Run's state, filled in by its phases in order.
type run struct {
	cfg env.Config
	d   Deps
	log *slog.Logger
	dir string // the configuration's run directory

	net    HostNet
	host   render.Host
	kube   *kubeView // nil: the Kubernetes API features are off
	planMu sync.Mutex
	plan   render.Plan // guarded by planMu once supervise runs
	conf   []byte      // keepalived.conf as `keepalived -t` accepted it
	rules  []iptables.Rule
	tables []iptables.Table // one per rule
}

// claimFiles checks the files the agent needs and will write, and takes the
// per-configuration lock; call the returned function to release it.
func (r *run) claimFiles() (unlock func(), err error) {
	if err := checkRunFiles(r.cfg, r.log); err != nil {
		return nil, err
	}
	if err := r.d.Keepalived.CheckConfigPath(r.cfg.KeepalivedConfig); err != nil {
		return nil, err
	}
	if err := r.d.Keepalived.PrepareRunDir(r.dir); err != nil {
		return nil, err
	}
	// One agent per configuration per node: a second one would remove the
	// first one's VIPs as stale before failing on the busy port.
	return r.d.Keepalived.Lock(r.dir + ".lock")
}

// preflight checks everything else that can reject the configuration, and
// renders keepalived.conf once. ok is false when Run must return err (nil
// after a cancellation); nothing on the host was changed either way.
func (r *run) preflight(ctx context.Context) (ok bool, err error) {
	r.host, err = waitForHost(ctx, r.net, r.cfg, r.log)
	if err != nil {
		if ctx.Err() != nil {
			r.log.Info("stopped while waiting for the interface")
			return false, nil
		}
		return false, err
	}
	r.log.Info("node facts", "interface", r.host.Interface, "ipv4", r.host.Addr4, "ipv6", r.host.Addr6)
	if err := checkVIPConflicts(r.net, r.host.Interface, r.cfg); err != nil {
		return false, err
	}
	if r.plan, err = r.makePlan(); err != nil {
		return false, err
	}
	if r.conf, err = configText(r.plan); err != nil {
		return false, err
	}
	if err := r.d.Keepalived.CheckConfig(ctx, r.conf, checkTimeout); err != nil {
		if ctx.Err() != nil {
			r.log.Info("stopped during the pre-flight check; nothing on the host was changed")
			return false, nil
		}
		return false, err
	}
	r.rules = MulticastRules(r.cfg)
	if r.tables, err = openChains(r.d.Firewall, r.rules); err != nil {
		return false, err
	}
	if ctx.Err() != nil {
		r.log.Info("stopped before any change to the host")
		return false, nil
	}
	return true, nil
}

// changeHost removes the VIPs a previous run left and puts the multicast
// rules in place.
func (r *run) changeHost() error {
	if removed, err := r.net.RemoveAddresses(r.host.Interface, vipPrefixes(r.cfg), r.log); err != nil {
		return fmt.Errorf("remove stale VIPs: %w", err)
	} else if len(removed) > 0 {
		r.log.Warn("removed VIPs left by a previous run: this node starts as BACKUP and holds none legitimately", "count", len(removed))
	}
	return ensureRules(r.tables, r.rules, r.log)
}

// releaseVIPs removes this configuration's VIPs (supervisor.Options.ReleaseVIPs).
func (r *run) releaseVIPs(context.Context) error {
	_, err := r.net.RemoveAddresses(r.host.Interface, vipPrefixes(r.cfg), r.log)
	return err
}

// makePlan is what the configuration means on this node now: with the
// Kubernetes peer set when it is known.
func (r *run) makePlan() (render.Plan, error) {
	cfg, o := applyPeers(r.cfg, planOptions(r.dir, r.d.Version), r.kube.peers(), r.kube.placementNodes())
	return render.NewPlan(cfg, r.host, o)
}

// currentPlan is the plan the next render uses.
func (r *run) currentPlan() render.Plan {
	r.planMu.Lock()
	defer r.planMu.Unlock()
	return r.plan
}

// followPeers re-plans when the Kubernetes peer set changes and asks for a
// reload then (keepalived keeps the instances whose lines did not change,
// so only groups that move are affected); the SIGHUP reloads pass through.
// Without the features it returns hup.
func (r *run) followPeers(ctx context.Context, hup <-chan struct{}) <-chan struct{} {
	changed := r.kube.changed()
	if changed == nil {
		return hup
	}
	return mergeReloads(ctx, hup, changed, func() bool {
		p, err := r.makePlan()
		if err != nil {
			// A peer set the configuration cannot use (unicast with no
			// other node of a family): keep the last one.
			r.log.Warn("peer set from the Kubernetes API not applied; keeping the current configuration", "peers", r.kube.peers(), "err", err)
			return false
		}
		r.planMu.Lock()
		r.plan = p
		r.planMu.Unlock()
		r.log.Info("peer set changed: re-rendering", "peers", r.kube.peers())
		return true
	})
}

// mergeReloads forwards the reload requests of hup and, for each signal on
// kick for which apply (nil: always) says so, one of its own. Requests
// arriving while one is pending merge into it. It runs until ctx ends.
func mergeReloads(ctx context.Context, hup, kick <-chan struct{}, apply func() bool) <-chan struct{} {
	out := make(chan struct{}, 1)
	send := func() {
		select {
		case out <- struct{}{}:
		default:
		}
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-hup:
				if !ok {
					hup = nil // a closed channel must not spin the loop
					continue
				}
				send()
			case <-kick:
				if apply == nil || apply() {
					send()
				}
			}
		}
	}()
	return out
}

// keeperInterval is how often the multicast rule is read back: within one
// advert interval, so a deleted rule costs at most about one missed advert
// (a peer declares the master dead after three), but not more often than
// every 250 ms (each read runs iptables) nor less often than every 2 s.
func keeperInterval(advert time.Duration) time.Duration {
	return min(max(advert, 250*time.Millisecond), 2*time.Second)
}

// supervise starts the monitor, the health check and the rule keepers, and
// has keepalived supervised until ctx ends; it stops them in reverse order.
func (r *run) supervise(ctx context.Context, reload <-chan struct{}) error {
	cfg, log := r.cfg, r.log
	// The wire view listens from the start, so that its listen window
	// (the rollout guard's) overlaps the rest of the start-up.
	wv := openWireView(ctx, r.plan, log)
	defer wv.close()
	wv.onConflict(r.kube.onConflict)
	sig, err := r.d.Keepalived.JSONSignal(ctx)
	if err != nil {
		log.Warn("keepalived's JSON dump signal is unknown; its counters are not exported and only a stopped (not a hung) keepalived fails /healthz", "err", err)
	}
	// The monitor is created first so that the health check's runs are
	// observed from the first one; that first run is on disk before
	// keepalived starts and reads it.
	var mon *monitor.Monitor
	var check *health.Runner
	// delivery wakes the supervision loop when writing check results for
	// keepalived starts or stops failing.
	delivery := make(chan struct{}, 1)
	// checkOK is the previous check result, for an Event when it starts
	// failing.
	var checkOK atomic.Bool
	checkOK.Store(true)
	var checkCmd string
	if r.plan.Check != nil {
		checkCmd = r.plan.Check.Command
	}
	if r.plan.Check != nil {
		check = health.New(health.Options{
			Check: *r.plan.Check, StatusFile: r.plan.Options.CheckFile, SkipMissing: cfg.CheckScript != "",
			OnResult: func(res scripts.Result) {
				mon.ObserveCheck(res)
				r.kube.onCheck(checkOK.Swap(res.OK()), res, checkCmd)
			},
			Log: log.With("component", "health"),
			OnDelivery: func(error) {
				select {
				case delivery <- struct{}{}:
				default:
				}
			},
		})
	}
	mon, err = monitor.Start(ctx, monitor.Options{
		Plan: r.plan, Version: r.d.Version, RunDir: r.dir, Rules: r.rules, Tables: r.tables, Check: check,
		JSONSignal: sig, Addrs: r.net.AllAddresses, ProcRoot: r.d.ProcRoot, Now: r.d.Now, Log: log,
		Segment: wv.snapshotter(), Blocked: wv.Blocked, OnStats: wv.UpdateRx,
		OnChange: r.kube.onTransition, Collectors: r.kube.collectors(), Kubernetes: r.kube.status,
	})
	if err != nil {
		_ = r.releaseVIPs(context.Background())
		return err
	}
	defer mon.Close()
	if check != nil {
		check.Start(ctx)
		defer check.Stop()
	}
	// The rule is kept in place: someone deleting it (or an INPUT policy
	// of DROP after a firewall reload) would split every VIP.
	kctx, stopKeepers := context.WithCancel(ctx)
	var keepers sync.WaitGroup
	defer keepers.Wait()
	defer stopKeepers()
	for i, rule := range r.rules {
		k := &iptables.Keeper{Table: r.tables[i], Rule: rule, Log: log, OnRestore: mon.RuleRestored, Interval: keeperInterval(cfg.AdvertInterval)}
		keepers.Go(func() { _ = k.Run(kctx) })
	}

	opts := supervisor.Options{
		Logger:     log,
		ConfigPath: cfg.KeepalivedConfig,
		ExtraArgs:  cfg.KeepalivedOptions,
		RunDir:     r.dir,
		OnEvent: func(ev supervisor.Event) {
			mon.OnEvent(ev)
			r.kube.onEvent(ev)
		},
		Render:      wv.render(renderOnce(r.conf, r.currentPlan), r.currentPlan),
		ReleaseVIPs: r.releaseVIPs,
		// A changed password Secret is re-read with a live reload (the
		// kubelet swaps the mount's ..data link; the watcher follows it).
		WatchPaths: []string{env.ScriptProgram(cfg.CheckScript), env.ScriptProgram(cfg.NotifyScript), cfg.KeepalivedTemplate, cfg.AuthPasswordFile},
		// A stopped or hung keepalived keeps its VIPs while a peer takes
		// them too: replace it within one master-down interval.
		HangTimeout: 3*cfg.AdvertInterval + time.Second,
		Liveness:    mon.Liveness,
		Now:         r.d.Now,
	}
	undelivered := func() bool { return check != nil && check.Undelivered() != "" }
	// keepalived starts once the rollout guard lets at least one instance
	// run; it returns false only when ctx ended, which skips the loop.
	wv.awaitStart(ctx)
	reload = wv.reloads(ctx, r.followPeers(ctx, reload))
	for ctx.Err() == nil {
		// Fail closed: while check results cannot be written, keepalived
		// would act on a stale (possibly healthy) result, so it is held
		// stopped, with the VIPs released, until they can.
		if undelivered() {
			log.Error("keepalived held stopped: health check results cannot be delivered to it", "reason", check.Undelivered())
			for undelivered() && ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-delivery:
				}
			}
			if ctx.Err() != nil {
				break
			}
			log.Info("health check results are delivered again: starting keepalived")
		}
		sctx, stopSupervise := context.WithCancel(ctx)
		go func() {
			for {
				select {
				case <-sctx.Done():
					return
				case <-delivery:
					if undelivered() {
						stopSupervise()
						return
					}
				}
			}
		}()
		err = r.d.Keepalived.Supervise(sctx, opts, reload)
		stopSupervise()
		if err != nil {
			return err
		}
	}
	log.Info("stopped")
	return nil
}
