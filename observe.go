package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/internal/procfs"
	"github.com/ipfailover/ipfailover/iptables"
	"github.com/ipfailover/ipfailover/metrics"
	"github.com/ipfailover/ipfailover/render"
	"github.com/ipfailover/ipfailover/supervisor"
	"github.com/ipfailover/ipfailover/vrrpstate"
)

const (
	// fifoName is the notify FIFO inside keepalived's run directory.
	fifoName = "vrrp.fifo"
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
	// startupGrace is how long /healthz passes before keepalived first
	// started (interface wait, pre-flight checks).
	startupGrace = 2 * time.Minute
	// rulePoll is how often the multicast rule is read back.
	rulePoll = 15 * time.Second
)

// observer is the agent's observability: it reads keepalived's notify FIFO
// and state dumps into a vrrpstate.Model, runs the notify script and the
// health check (writing the result keepalived tracks), tracks the supervisor's lifecycle events, and serves
// it all through package metrics.
type observer struct {
	cfg       env.Config
	host      render.Host
	log       *slog.Logger
	fifoPath  string
	procRoot  string
	checkFile string

	model     *vrrpstate.Model
	notifier  *vrrpstate.Notifier
	checker   *vrrpstate.Checker
	heartbeat *vrrpstate.Heartbeat
	server    *metrics.Server
	rules     []iptables.Rule

	cancel     context.CancelFunc
	wg         sync.WaitGroup
	notifyDone chan struct{}

	mu         sync.Mutex
	agentStart time.Time
	pid        int
	running    bool
	ready      bool
	startedAt  time.Time
	readyAt    time.Time
	starts     uint64
	exitReason string
	reloads    map[string]uint64
	lastReload time.Time
	lastResult string
	lastErr    string
	loaded     bool
	hash       string
	dump       map[string]vrrpstate.Stats
	dumpAt     time.Time
	ruleStatus []metrics.Rule
	timeouts   uint64
	check      *render.Check
	// rulesKick asks pollRules for a read-back now: the rules are
	// installed after startObservability returns, before keepalived starts.
	rulesKick chan struct{}
}

// startObservability starts everything that watches keepalived: the FIFO
// reader (the FIFO is created in runDir, which must be the supervisor's
// RunDir, before it returns), the notify runner, the health check (whose result keepalived tracks),
// the JSON dump heartbeat, the multicast rule poll and, unless
// cfg.MetricsAddress is empty, the HTTP server. data is what keepalived.conf
// is rendered from: its instances and health check. Call Close when done.
func startObservability(ctx context.Context, cfg env.Config, host render.Host, data render.Data, runDir string, log *slog.Logger) (*observer, error) {
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return nil, fmt.Errorf("create run dir %s: %w", runDir, err)
	}
	o := &observer{
		cfg: cfg, host: host, log: log.With("component", "observe"),
		fifoPath: filepath.Join(runDir, fifoName), procRoot: "/proc", checkFile: checkFile(cfg),
		rules: multicastRules(cfg), agentStart: time.Now(),
		reloads: map[string]uint64{}, check: data.Check, rulesKick: make(chan struct{}, 1),
	}
	if err := vrrpstate.Create(o.fifoPath); err != nil {
		return nil, err
	}
	var specs []vrrpstate.InstanceSpec
	for _, in := range data.Instances {
		s := vrrpstate.InstanceSpec{Name: in.Name, VRID: in.VRID, Interface: data.Interface, Family: in.Family, Priority: in.Priority}
		for _, v := range in.VIPs {
			if p, err := netip.ParsePrefix(v); err == nil {
				s.VIPs = append(s.VIPs, p)
			}
		}
		specs = append(specs, s)
	}
	facts := vrrpstate.Facts{InterfaceUp: interfaceUp}
	if data.Check != nil {
		o.checker = &vrrpstate.Checker{
			Command:     checkCommand(data.Check.Command),
			SkipMissing: cfg.CheckScript != "",
			Interval:    time.Duration(data.Check.Interval) * time.Second,
			Timeout:     time.Duration(data.Check.Timeout) * time.Second,
			KillGrace:   time.Second,
			Log:         o.log.With("check", data.Check.Name),
			Done:        o.checkDone,
		}
		facts.CheckFailing = o.checker.Failing
	}
	o.model = vrrpstate.NewModel(specs, time.Now, facts)
	if cfg.NotifyScript != "" {
		o.notifier = &vrrpstate.Notifier{
			Script: cfg.NotifyScript, Timeout: notifyTimeout, KillGrace: notifyKillGrace,
			Log: o.log.With("notify", cfg.NotifyScript), SkipMissing: true,
		}
	}
	if sig, err := jsonSignal(ctx); err != nil {
		o.log.Warn("keepalived's JSON dump signal is unknown; its counters are not exported and only a stopped (not a hung) keepalived fails /healthz", "err", err)
	} else {
		o.heartbeat = &vrrpstate.Heartbeat{
			Dir: runDir, Signal: sig, Period: heartbeatPeriod,
			PID: o.heartbeatPID, OnDump: o.onDump, Log: o.log,
		}
	}
	if cfg.MetricsAddress != "" {
		o.server = metrics.New(metrics.Options{Addr: cfg.MetricsAddress, Source: o.Status, Log: o.log})
		if err := o.server.Start(); err != nil {
			return nil, err
		}
		for _, r := range o.rules {
			o.server.TrackRule(r.Chain, r.Family())
		}
	}

	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	o.cancel = cancel
	fifo := &vrrpstate.FIFO{Path: o.fifoPath, Log: o.log, Handle: o.onLine}
	o.goRun(func() { _ = fifo.Run(rctx) })
	if o.notifier != nil {
		o.notifyDone = make(chan struct{})
		nctx, ncancel := context.WithCancel(context.WithoutCancel(ctx))
		go func() {
			// The notifier outlives rctx so Close can drain STOP calls.
			<-o.notifyDone
			ncancel()
		}()
		o.goRun(func() { o.notifier.Run(nctx) })
	}
	if o.checker != nil {
		// The first result must be on disk before keepalived starts and
		// reads it; this run is bounded by the check's timeout.
		o.checker.Check(rctx)
		o.goRun(func() { o.checker.Run(rctx) })
	}
	if o.heartbeat != nil {
		o.goRun(func() { o.heartbeat.Run(rctx) })
	}
	if len(o.rules) > 0 {
		o.goRun(func() { o.pollRules(rctx) })
	}
	return o, nil
}

// checkCommand is the command line the agent runs for the rendered check:
// the default TCP check names the program render.CheckProgram, which is
// this binary wherever it is installed.
func checkCommand(rendered string) string {
	prog, rest, _ := strings.Cut(rendered, " ")
	if prog != render.CheckProgram {
		return rendered
	}
	self, err := os.Executable()
	if err != nil {
		self = "/proc/self/exe"
	}
	return self + " " + rest
}

// ruleRestored counts a multicast rule the Keeper put back and has the
// rule state read again at once.
func (o *observer) ruleRestored(r iptables.Rule) {
	if o.server != nil {
		o.server.ObserveRuleRestored(r.Chain, r.Family())
	}
	select {
	case o.rulesKick <- struct{}{}:
	default:
	}
}

// Liveness is the supervisor's hang check beyond its own /proc check: a
// keepalived that stopped answering the JSON state dump is hung.
func (o *observer) Liveness() (bool, string) {
	o.mu.Lock()
	pid, readyAt := o.pid, o.readyAt
	o.mu.Unlock()
	if pid == 0 {
		return true, ""
	}
	p := o.keepalivedProblem(pid, readyAt, time.Now())
	return p == "", p
}

func (o *observer) goRun(f func()) {
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		f()
	}()
}

// FIFOPath is the notify FIFO to render as vrrp_notify_fifo.
func (o *observer) FIFOPath() string { return o.fifoPath }

// Close stops every goroutine, waits up to notifyDrain for queued notify
// calls, and stops the HTTP server.
func (o *observer) Close() {
	if o.notifier != nil {
		ctx, cancel := context.WithTimeout(context.Background(), notifyDrain)
		o.notifier.Drain(ctx)
		cancel()
		close(o.notifyDone)
	}
	o.cancel()
	o.wg.Wait()
	if o.server != nil {
		_ = o.server.Close()
	}
	_ = os.Remove(o.fifoPath)
}

// onLine handles one FIFO line: model, log, notify.
func (o *observer) onLine(l vrrpstate.Line) {
	c, changed := o.model.Apply(l)
	if !changed {
		if l.Word == vrrpstate.WordMasterRxLowerPri {
			o.log.Warn("master heard another master with a lower priority", "instance", l.Name, "priority", l.Priority)
		}
		return
	}
	o.changed(c)
}

func (o *observer) changed(c vrrpstate.Change) {
	o.log.Info("VRRP state change", "scope", c.Line.Scope, "instance", c.Line.Name, "from", c.From.String(),
		"to", c.Line.Word, "priority", c.Line.Priority, "reason", c.Reason)
	if o.notifier != nil {
		o.notifier.Enqueue(c.Line)
	}
}

// OnEvent takes the supervisor's lifecycle events (supervisor.Options.OnEvent).
func (o *observer) OnEvent(ev supervisor.Event) {
	o.mu.Lock()
	now := time.Now()
	gone := ""
	switch ev.Kind {
	case supervisor.EventStarted:
		o.running, o.ready, o.pid, o.startedAt = true, false, ev.PID, now
		o.starts++
		o.exitReason = ""
	case supervisor.EventReady:
		o.ready, o.readyAt = true, now
	case supervisor.EventExited:
		o.running, o.ready, o.pid = false, false, 0
		o.exitReason = ev.Status.String() + ": " + ev.Reason
		gone = "keepalived exited (" + o.exitReason + ")"
		if ev.Expected {
			gone = "keepalived stopped by the agent"
		}
	case supervisor.EventReloadOK, supervisor.EventReloadUnchanged:
		res := "ok"
		if ev.Kind == supervisor.EventReloadUnchanged {
			res = "unchanged"
		}
		o.reloads[res]++
		o.lastReload, o.lastResult, o.lastErr, o.loaded = now, res, "", true
		o.hash = fileHash(o.cfg.KeepalivedConfig)
	case supervisor.EventReloadFailed:
		o.reloads["failed"]++
		o.lastReload, o.lastResult = now, "failed"
		if ev.Err != nil {
			o.lastErr = ev.Err.Error()
		}
	}
	o.mu.Unlock()
	if ev.Kind == supervisor.EventStarted {
		select {
		case o.rulesKick <- struct{}{}:
		default:
		}
	}
	if gone != "" {
		o.model.KeepalivedGone(gone)
	}
}

// heartbeatPID is the keepalived to ask for a dump, once it is safe.
func (o *observer) heartbeatPID() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.ready || time.Since(o.readyAt) < heartbeatDelay {
		return 0
	}
	return o.pid
}

func (o *observer) onDump(entries []vrrpstate.DumpEntry, at time.Time) {
	stats := make(map[string]vrrpstate.Stats, len(entries))
	ds := make([]vrrpstate.Dumped, len(entries))
	for i, e := range entries {
		stats[e.Name] = e.Stats
		ds[i] = e.Dumped
	}
	o.mu.Lock()
	o.dump, o.dumpAt = stats, at
	o.mu.Unlock()
	for _, c := range o.model.Reconcile(ds) {
		o.changed(c)
	}
}

func (o *observer) checkDone(r vrrpstate.Result) {
	if err := vrrpstate.WriteStatus(o.checkFile, r.OK()); err != nil {
		// keepalived keeps acting on the previous result: make it loud.
		o.log.Error("cannot record the health check result for keepalived", "err", err)
	}
	if o.server != nil {
		o.server.ObserveCheck(r.Duration)
	}
	if r.TimedOut {
		o.mu.Lock()
		o.timeouts++
		o.mu.Unlock()
	}
}

// pollRules reads the multicast rules back every rulePoll and whenever
// keepalived starts (the first time right after the agent installed them).
func (o *observer) pollRules(ctx context.Context) {
	tables := make([]iptables.Table, len(o.rules))
	select {
	case <-ctx.Done():
		return
	case <-o.rulesKick:
	case <-time.After(rulePoll):
	}
	for {
		st := make([]metrics.Rule, len(o.rules))
		for i, r := range o.rules {
			st[i] = metrics.Rule{Chain: r.Chain, Family: map[bool]string{false: "ipv4", true: "ipv6"}[r.IPv6], CheckedAt: time.Now()}
			var err error
			if tables[i] == nil {
				tables[i], err = iptables.New(r.IPv6)
			}
			if err == nil {
				st[i].Present, err = iptables.Present(tables[i], r)
			}
			if err != nil {
				st[i].Error = err.Error()
			}
		}
		o.mu.Lock()
		o.ruleStatus = st
		o.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-o.rulesKick:
		case <-time.After(rulePoll):
		}
	}
}

// keepalivedProblem says why a running keepalived does not count as
// responsive, or "" when it does.
func (o *observer) keepalivedProblem(pid int, readyAt, now time.Time) string {
	all, err := procfs.List(o.procRoot)
	if err != nil {
		return fmt.Sprintf("cannot read processes: %v", err)
	}
	procs := procfs.Tree(all, pid)
	if procs == nil {
		return fmt.Sprintf("keepalived process %d is gone", pid)
	}
	for _, p := range procs {
		if strings.HasPrefix(p.Comm, "keepalived") && p.Stopped() {
			return fmt.Sprintf("keepalived process %d (%s) is stopped (state %c: SIGSTOP or traced)", p.PID, p.Comm, p.State)
		}
	}
	if o.heartbeat == nil || readyAt.IsZero() || now.Sub(readyAt) < staleAfter {
		return ""
	}
	last := o.heartbeat.LastOK()
	if last.Before(readyAt) {
		last = readyAt
	}
	if age := now.Sub(last); age > staleAfter {
		return fmt.Sprintf("keepalived has not answered a JSON state dump request for %v (limit %v): hung?", age.Round(time.Second), staleAfter)
	}
	return ""
}

// Status is the snapshot every HTTP request is served from.
func (o *observer) Status() metrics.Status {
	now := time.Now()
	o.mu.Lock()
	s := metrics.Status{
		Name: o.cfg.Name, Version: version, Interface: o.host.Interface, Time: now,
		Keepalived: metrics.Keepalived{Running: o.running, PID: o.pid, StartedAt: o.startedAt, LastDump: o.dumpAt},
		Config: metrics.Config{
			Path: o.cfg.KeepalivedConfig, Hash: o.hash, Loaded: o.loaded, LastReload: o.lastReload,
			LastResult: o.lastResult, LastError: o.lastErr, Reloads: map[string]uint64{},
		},
		MulticastRules: append([]metrics.Rule{}, o.ruleStatus...),
	}
	if o.starts > 1 {
		s.Keepalived.Restarts = o.starts - 1
	}
	for k, v := range o.reloads {
		s.Config.Reloads[k] = v
	}
	pid, ready, readyAt, starts, exitReason := o.pid, o.ready, o.readyAt, o.starts, o.exitReason
	var stats map[string]vrrpstate.Stats
	if !o.dumpAt.Before(o.readyAt) {
		stats = o.dump
	}
	timeouts := o.timeouts
	o.mu.Unlock()

	if o.host.Addr4.IsValid() {
		s.NodeAddress = o.host.Addr4.String()
	} else if o.host.Addr6.IsValid() {
		s.NodeAddress = o.host.Addr6.String()
	}
	if s.Keepalived.Running {
		s.Keepalived.Problem = o.keepalivedProblem(pid, readyAt, now)
		s.Keepalived.Responsive = s.Keepalived.Problem == ""
	} else if exitReason != "" {
		s.Keepalived.Problem = "last exit: " + exitReason
	}

	switch {
	case !s.Keepalived.Running && starts == 0 && now.Sub(o.agentStart) < startupGrace:
		s.Healthy = true // still starting
	case !s.Keepalived.Running:
		s.HealthProblem = "keepalived is not running"
		if exitReason != "" {
			s.HealthProblem += " (last exit: " + exitReason + ")"
		}
	case !s.Keepalived.Responsive:
		s.HealthProblem = s.Keepalived.Problem
	default:
		s.Healthy = true
	}
	switch {
	case !s.Config.Loaded:
		s.ReadyProblem = "keepalived.conf not rendered and installed yet"
		if s.Config.LastError != "" {
			s.ReadyProblem += ": " + s.Config.LastError
		}
	case !s.Keepalived.Running || !ready:
		s.ReadyProblem = "keepalived is not running (or not started up yet)"
	case !s.Keepalived.Responsive:
		s.ReadyProblem = s.Keepalived.Problem
	default:
		s.Ready = true
	}

	if o.cfg.CheckScript != "" {
		sc := metrics.Script{Variable: "OPENSHIFT_HA_CHECK_SCRIPT", Command: o.cfg.CheckScript}
		if o.checker != nil {
			sc.Problem = o.checker.Unavailable()
		}
		s.Scripts = append(s.Scripts, sc)
	}
	if o.notifier != nil {
		s.Scripts = append(s.Scripts, metrics.Script{Variable: "OPENSHIFT_HA_NOTIFY_SCRIPT", Command: o.cfg.NotifyScript, Problem: o.notifier.Unavailable()})
	}
	for _, sc := range s.Scripts {
		if sc.Problem != "" && s.Ready {
			// The VIPs are served (as the original did), but a rollout
			// should pause on a configuration that cannot work as meant.
			s.Ready = false
			s.ReadyProblem = sc.Variable + " cannot be run (" + sc.Problem + "); it is skipped until it appears"
		}
	}

	if o.checker != nil {
		c := &metrics.Check{Command: o.check.Command, IntervalSeconds: float64(o.check.Interval), Timeouts: timeouts}
		if r, ok := o.checker.Last(); ok {
			c.Ran, c.OK, c.Result = true, r.OK(), r.Describe()
			c.LastRun, c.DurationSeconds, c.Output = r.Start, r.Duration.Seconds(), r.Output
		}
		s.Check = c
	}

	addrs, err := vrrpstate.KernelAddrs()
	if err != nil {
		o.log.Warn("cannot read addresses from the kernel", "err", err)
	}
	up := s.Keepalived.Up()
	for _, in := range o.model.Instances() {
		mi := metrics.Instance{
			Name: in.Name, VRID: in.VRID, Interface: in.Interface, Family: in.Family,
			State: in.State.String(), Priority: in.EffectivePriority, BasePriority: in.Priority,
			LastTransition: in.LastTransition, Reason: in.Reason, Transitions: in.Transitions,
			RxLowerPriority: in.RxLowerPriority,
		}
		if up {
			mi.StateValue = int(in.State)
		}
		for _, v := range in.VIPs {
			mi.VIPs = append(mi.VIPs, metrics.VIP{Address: v.Addr().String(), Present: vrrpstate.Has(addrs[in.Interface], v.Addr())})
		}
		if st, ok := stats[in.Name]; ok {
			mi.KeepalivedCounter = &metrics.Counters{
				AdvertsReceived: st.AdvertRcvd, AdvertsSent: st.AdvertSent,
				PriorityZeroRecv: st.PriZeroRcvd, PriorityZeroSent: st.PriZeroSent,
				PacketLengthErrors: st.PacketLenErr, AdvertIntervalErr: st.AdvertIntervalErr,
				IPTTLErrors: st.IPTTLErr, InvalidTypeReceived: st.InvalidTypeRcvd,
				AddressListErrors: st.AddrListErr, InvalidAuthType: st.InvalidAuthtype,
				AuthTypeMismatch: st.AuthtypeMismatch, AuthFailures: st.AuthFailure,
			}
		}
		s.Instances = append(s.Instances, mi)
	}
	return s
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
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// jsonSignal asks keepalived which signal makes it write its JSON dump: it
// is SIGRTMIN+2, and SIGRTMIN differs between C libraries (34 on glibc),
// so it is never hard-coded.
func jsonSignal(ctx context.Context) (syscall.Signal, error) {
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		return 0, fmt.Errorf("keepalived binary: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--signum=JSON").Output()
	if err != nil {
		return 0, fmt.Errorf("%s --signum=JSON: %w (keepalived built without JSON support?)", bin, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || n <= 0 || n > 64 {
		return 0, errors.New(bin + " --signum=JSON printed " + strconv.Quote(string(out)) + ", not a signal number")
	}
	return syscall.Signal(n), nil
}
