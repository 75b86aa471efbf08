// Package monitor owns the agent's view of the keepalived it supervises: it
// reads keepalived's notify FIFO and JSON state dumps into the VRRP state
// model, runs the user's notify script for every state change, follows the
// supervisor's lifecycle events, judges keepalived's liveness for the
// supervisor's hang detection, reads the multicast rules back, and serves
// the status document (built by package status) through package statusapi.
//
// It changes nothing on the host but the FIFO it reads; the health check
// keepalived fails over on is package health's.
package monitor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/ipfailover/ipfailover/agent/health"
	"github.com/ipfailover/ipfailover/agent/status"
	"github.com/ipfailover/ipfailover/internal/procfs"
	"github.com/ipfailover/ipfailover/iptables"
	"github.com/ipfailover/ipfailover/statusapi"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipfailover/ipfailover/render"
	"github.com/ipfailover/ipfailover/scripts"
	"github.com/ipfailover/ipfailover/supervisor"
	"github.com/ipfailover/ipfailover/vrrpstate"
	"github.com/ipfailover/ipfailover/wire"
)

const (
	// notifyTimeout bounds one notify script call. Calls run one at a
	// time, so a hanging script delays the next state change's call by at
	// most this plus notifyKillGrace.
	notifyTimeout   = 30 * time.Second
	notifyKillGrace = 2 * time.Second
	// notifyDrain bounds how long Close waits for queued notify calls
	// (the STOP calls of a shutdown) within the pod's grace period.
	notifyDrain = 5 * time.Second
	// heartbeatPeriod is how often keepalived is asked for its JSON state
	// dump; staleAfter is how old the last dump may be before keepalived
	// counts as hung. A stopped (SIGSTOP) keepalived is caught at once
	// from /proc, independently of this.
	heartbeatPeriod = 5 * time.Second
	staleAfter      = 3*heartbeatPeriod + time.Second
	// heartbeatDelay is how long after keepalived is ready the first
	// dump is requested: a real-time signal kills a process that has not
	// set up its handler yet.
	heartbeatDelay = time.Second
	// rulePoll is how often the multicast rules are read back.
	rulePoll = 15 * time.Second
)

// Options configures a Monitor.
type Options struct {
	// Plan is what keepalived runs: its instances, the host, the
	// configuration and, as Options.NotifyFIFO, the FIFO to read.
	Plan    render.Plan
	Version string
	// RunDir is keepalived's TMPDIR, where it writes its JSON dumps.
	RunDir string
	// Rules are the multicast accept rules in place, Tables their opened
	// tables (one per rule).
	Rules  []iptables.Rule
	Tables []iptables.Table
	// Check is the health check runner; nil when there is no check.
	Check *health.Runner
	// JSONSignal makes keepalived write its JSON dump (keepalived
	// --signum=JSON); 0 when unknown, which disables the heartbeat.
	JSONSignal syscall.Signal
	// Addrs reads the kernel's addresses by interface (VIP presence).
	Addrs func() (map[string][]netip.Prefix, error)
	// ProcRoot is where /proc is mounted.
	ProcRoot string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	Log *slog.Logger
	// Segment is the wire view (the agent's listener table), exported as
	// metrics and on /status and /segment; nil without a listener.
	Segment wire.Snapshotter
	// Blocked says why instances are held back by the rollout guard, for
	// /readyz and /status; nil means none is.
	Blocked func() []string
	// OnStats gets keepalived's per-instance counters from every JSON
	// dump (the wire view compares them with the wire); nil: not wanted.
	OnStats func(map[string]vrrpstate.Stats)
	// OnChange gets every state change of an instance with its VIPs and
	// VRID (Kubernetes Events); nil: not wanted. It must not block.
	OnChange func(c vrrpstate.Change, vips []netip.Prefix, vrid int)
	// Collectors are more metrics to export (the Kubernetes features').
	Collectors []prometheus.Collector
	// Kubernetes, if set, is the Kubernetes features' part of /status.
	Kubernetes func() any
}

// Monitor watches one supervised keepalived. Its methods are safe for
// concurrent use.
type Monitor struct {
	o          Options
	log        *slog.Logger
	now        func() time.Time
	agentStart time.Time

	model     *vrrpstate.Model
	notifier  *scripts.Notifier
	heartbeat *vrrpstate.Heartbeat
	server    *statusapi.Server

	cancel     context.CancelFunc
	closeOnce  sync.Once
	wg         sync.WaitGroup
	notifyDone chan struct{}
	// rulesKick asks pollRules for a read-back now.
	rulesKick chan struct{}

	mu         sync.Mutex
	life       status.Lifecycle
	hash       string
	dump       map[string]vrrpstate.Stats
	dumpAt     time.Time
	ruleStatus []statusapi.Rule
}

// Start creates the FIFO, builds the state model from the plan, and starts
// the FIFO reader, the notify runner, the JSON dump heartbeat, the rule
// read-back and, unless the configuration's metrics address is empty, the
// HTTP server. Call Close when done.
func Start(ctx context.Context, o Options) (*Monitor, error) {
	if o.Plan.Options.NotifyFIFO == "" {
		return nil, errors.New("monitor: the plan has no notify FIFO")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	cfg := o.Plan.Config
	m := &Monitor{
		o: o, log: o.Log.With("component", "monitor"), now: o.Now,
		agentStart: o.Now(), rulesKick: make(chan struct{}, 1),
	}
	if err := vrrpstate.Create(o.Plan.Options.NotifyFIFO); err != nil {
		return nil, err
	}
	facts := vrrpstate.Facts{InterfaceUp: interfaceUp}
	if o.Check != nil {
		facts.CheckFailing = o.Check.Failing
	}
	m.model = vrrpstate.NewModel(Specs(o.Plan), o.Now, facts)
	if cfg.NotifyScript != "" {
		m.notifier = &scripts.Notifier{
			Script: cfg.NotifyScript, Timeout: notifyTimeout, KillGrace: notifyKillGrace,
			Log: m.log.With("notify", cfg.NotifyScript), SkipMissing: true,
		}
	}
	if o.JSONSignal != 0 {
		m.heartbeat = &vrrpstate.Heartbeat{
			Dir: o.RunDir, Signal: o.JSONSignal, Period: heartbeatPeriod,
			PID: m.heartbeatPID, OnDump: m.onDump, Log: m.log,
		}
	}
	if cfg.MetricsAddress != "" {
		m.server = statusapi.New(statusapi.Options{Addr: cfg.MetricsAddress, Source: m.Status, Log: m.log})
		if err := m.server.Start(); err != nil {
			_ = os.Remove(o.Plan.Options.NotifyFIFO)
			return nil, err
		}
		for _, r := range o.Rules {
			m.server.TrackRule(r.Chain, r.Family())
		}
		for _, c := range o.Collectors {
			if err := m.server.Register(c); err != nil {
				m.log.Warn("metrics not exported", "err", err)
			}
		}
		if o.Segment != nil {
			if err := m.server.Register(wire.NewCollector(o.Segment)); err != nil {
				m.log.Warn("segment metrics not exported", "err", err)
			}
		}
	}

	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	fifo := &vrrpstate.FIFO{Path: o.Plan.Options.NotifyFIFO, Log: m.log, Handle: m.onLine}
	m.goRun(func() { _ = fifo.Run(rctx) })
	if m.notifier != nil {
		m.notifyDone = make(chan struct{})
		nctx, ncancel := context.WithCancel(context.WithoutCancel(ctx))
		go func() {
			// The notifier outlives rctx so Close can drain STOP calls.
			<-m.notifyDone
			ncancel()
		}()
		m.goRun(func() { m.notifier.Run(nctx) })
	}
	if m.heartbeat != nil {
		m.goRun(func() { m.heartbeat.Run(rctx) })
	}
	if len(o.Rules) > 0 {
		m.goRun(func() { m.pollRules(rctx) })
	}
	return m, nil
}

// Specs is the state model's view of the plan's instances.
func Specs(p render.Plan) []vrrpstate.InstanceSpec {
	specs := make([]vrrpstate.InstanceSpec, 0, len(p.Instances))
	for _, in := range p.Instances {
		specs = append(specs, vrrpstate.InstanceSpec{
			Name: in.Name, VRID: in.VRID, Interface: p.Host.Interface, Family: in.Family.String(),
			Priority: in.Priority, VIPs: in.VIPs,
		})
	}
	return specs
}

func (m *Monitor) goRun(f func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
}

// Close stops every goroutine, waits up to notifyDrain for queued notify
// calls, stops the HTTP server and removes the FIFO. Calls after the first
// do nothing.
func (m *Monitor) Close() { m.closeOnce.Do(m.close) }

func (m *Monitor) close() {
	if m.notifier != nil {
		ctx, cancel := context.WithTimeout(context.Background(), notifyDrain)
		m.notifier.Drain(ctx)
		cancel()
		close(m.notifyDone)
	}
	m.cancel()
	m.wg.Wait()
	if m.server != nil {
		_ = m.server.Close()
	}
	_ = os.Remove(m.o.Plan.Options.NotifyFIFO)
}

// ObserveCheck records one health check run's duration (health.Options.OnResult).
func (m *Monitor) ObserveCheck(r scripts.Result) {
	if m.server != nil {
		m.server.ObserveCheck(r.Duration)
	}
}

// RuleRestored counts a multicast rule the Keeper put back
// (iptables.Keeper.OnRestore) and has the rules read again at once.
func (m *Monitor) RuleRestored(r iptables.Rule) {
	if m.server != nil {
		m.server.ObserveRuleRestored(r.Chain, r.Family())
	}
	m.kickRules()
}

func (m *Monitor) kickRules() {
	select {
	case m.rulesKick <- struct{}{}:
	default:
	}
}

// onLine handles one FIFO line: model, log, notify.
func (m *Monitor) onLine(l vrrpstate.Line) {
	c, changed := m.model.Apply(l)
	if !changed {
		if l.Word == vrrpstate.WordMasterRxLowerPri {
			m.log.Warn("master heard another master with a lower priority", "instance", l.Name, "priority", l.Priority)
		}
		return
	}
	m.changed(c)
}

func (m *Monitor) changed(c vrrpstate.Change) {
	attrs := []any{"scope", c.Line.Scope, "instance", c.Line.Name, "from", c.From.String(),
		"to", c.Line.Word, "priority", c.Line.Priority, "reason", c.Reason}
	var vips []netip.Prefix
	vrid := 0
	for _, in := range m.o.Plan.Instances {
		if in.Name == c.Line.Name {
			vips, vrid = in.VIPs, in.VRID
			attrs = append(attrs, "vips", in.VIPs)
			break
		}
	}
	if m.o.OnChange != nil && c.Line.Scope == vrrpstate.ScopeInstance {
		m.o.OnChange(c, vips, vrid)
	}
	level := slog.LevelInfo
	if c.To == vrrpstate.StateFault {
		level = slog.LevelWarn
	}
	m.log.Log(context.Background(), level, "VRRP state change", attrs...)
	if m.notifier != nil {
		m.notifier.Enqueue(c.Line)
	}
}

// OnEvent takes the supervisor's lifecycle events (supervisor.Options.OnEvent).
func (m *Monitor) OnEvent(ev supervisor.Event) {
	m.mu.Lock()
	e := m.life.Apply(ev, m.now())
	if e.ConfigInstalled {
		m.hash = fileHash(m.o.Plan.Config.KeepalivedConfig)
	}
	m.mu.Unlock()
	if e.Started {
		m.kickRules()
	}
	if e.Gone != "" {
		m.model.KeepalivedGone(e.Gone)
	}
}

// Liveness is the supervisor's hang check beyond its own /proc check
// (supervisor.Options.Liveness): a keepalived that stopped answering the
// JSON state dump is hung.
func (m *Monitor) Liveness() (bool, string) {
	m.mu.Lock()
	pid, readyAt := m.life.PID, m.life.ReadyAt
	m.mu.Unlock()
	if pid == 0 {
		return true, ""
	}
	p := m.unresponsive(pid, readyAt, m.now())
	return p == "", p
}

// unresponsive gathers the facts status.Unresponsive judges.
func (m *Monitor) unresponsive(pid int, readyAt, now time.Time) string {
	l := status.Liveness{PID: pid, ReadyAt: readyAt, Now: now, StaleAfter: staleAfter, Heartbeat: m.heartbeat != nil}
	l.Procs, l.ProcErr = procfs.List(m.o.ProcRoot)
	if m.heartbeat != nil {
		l.LastDump = m.heartbeat.LastOK()
	}
	return status.Unresponsive(l)
}

// heartbeatPID is the keepalived to ask for a dump, once it is safe.
func (m *Monitor) heartbeatPID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.life.Ready || m.now().Sub(m.life.ReadyAt) < heartbeatDelay {
		return 0
	}
	return m.life.PID
}

func (m *Monitor) onDump(entries []vrrpstate.DumpEntry, at time.Time) {
	stats := make(map[string]vrrpstate.Stats, len(entries))
	ds := make([]vrrpstate.Dumped, len(entries))
	for i, e := range entries {
		stats[e.Name] = e.Stats
		ds[i] = e.Dumped
	}
	m.mu.Lock()
	m.dump, m.dumpAt = stats, at
	m.mu.Unlock()
	if m.o.OnStats != nil {
		m.o.OnStats(stats)
	}
	for _, c := range m.model.Reconcile(ds) {
		m.changed(c)
	}
}

// pollRules reads the multicast rules back every rulePoll and whenever
// keepalived starts (the first time right after the agent installed them).
func (m *Monitor) pollRules(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.rulesKick:
		case <-time.After(rulePoll):
		}
		st := make([]statusapi.Rule, len(m.o.Rules))
		for i, r := range m.o.Rules {
			st[i] = statusapi.Rule{Chain: r.Chain, Family: r.Family(), CheckedAt: m.now()}
			var err error
			st[i].Present, err = iptables.Present(m.o.Tables[i], r)
			if err != nil {
				st[i].Error = err.Error()
			}
		}
		m.mu.Lock()
		m.ruleStatus = st
		m.mu.Unlock()
	}
}

// Status is the snapshot every HTTP request is served from.
func (m *Monitor) Status() statusapi.Status {
	now := m.now()
	cfg := m.o.Plan.Config
	m.mu.Lock()
	s := status.Snapshot{
		Name: cfg.Name, Version: m.o.Version, Host: m.o.Plan.Host, Now: now, AgentStart: m.agentStart,
		Lifecycle: m.life, ConfigPath: cfg.KeepalivedConfig, ConfigHash: m.hash,
		Dump: m.dump, DumpAt: m.dumpAt, Rules: m.ruleStatus,
	}
	s.Lifecycle.Reloads = maps.Clone(m.life.Reloads)
	m.mu.Unlock()
	if s.Lifecycle.Running {
		s.Problem = m.unresponsive(s.Lifecycle.PID, s.Lifecycle.ReadyAt, now)
	}
	if c := m.o.Check; c != nil {
		s.Check = &status.Check{Command: c.Check().Command, Interval: c.Check().Interval, Timeouts: c.Timeouts()}
		s.Check.Last, s.Check.Ran = c.Last()
		s.Undelivered = c.Undelivered()
	}
	if cfg.CheckScript != "" {
		sc := statusapi.Script{Variable: "OPENSHIFT_HA_CHECK_SCRIPT", Command: cfg.CheckScript}
		if m.o.Check != nil {
			sc.Problem = m.o.Check.Unavailable()
		}
		s.Scripts = append(s.Scripts, sc)
	}
	if m.notifier != nil {
		s.Scripts = append(s.Scripts, statusapi.Script{Variable: "OPENSHIFT_HA_NOTIFY_SCRIPT", Command: cfg.NotifyScript, Problem: m.notifier.Unavailable()})
	}
	var err error
	if s.Addrs, err = m.o.Addrs(); err != nil {
		m.log.Warn("cannot read addresses from the kernel", "err", err)
	}
	s.Instances = m.model.Instances()
	if m.o.Segment != nil {
		seg := m.o.Segment.Snapshot()
		s.Segment = &seg
	}
	if m.o.Kubernetes != nil {
		if k := m.o.Kubernetes(); k != nil {
			s.Kubernetes = k
		}
	}
	if m.o.Blocked != nil {
		s.Blocked = m.o.Blocked()
	}
	return status.Build(s)
}

// interfaceUp reports whether the interface is administratively up and has
// carrier; an unknown interface counts as down.
func interfaceUp(name string) bool {
	ifi, err := net.InterfaceByName(name)
	return err == nil && ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagRunning != 0
}

// fileHash is the first 16 hex digits of the file's sha256, or "".
func fileHash(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(authPassLine.ReplaceAll(b, []byte("${1}-")))
	return hex.EncodeToString(sum[:8])
}

// authPassLine matches the value of keepalived's auth_pass. The hash masks
// it: the rest of the file is predictable, so a published hash of the whole
// file would let anyone test password guesses offline.
var authPassLine = regexp.MustCompile(`(?m)^(\s*auth_pass\s+)\S+`)
