package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/hostnet"
	"github.com/ipfailover/ipfailover/iptables"
	"github.com/ipfailover/ipfailover/render"
	"github.com/ipfailover/ipfailover/supervisor"
	"github.com/ipfailover/ipfailover/vrrpstate"
)

const (
	// interfaceWait bounds the wait for the interface and its address at
	// start: long enough for a node's network to come up after a reboot,
	// short enough that a typo'd interface surfaces as a crash loop.
	interfaceWait = 2 * time.Minute
	// checkTimeout bounds `keepalived -t` in the pre-flight check.
	checkTimeout = 10 * time.Second
	// runDirRoot holds per-configuration run directories (pid files, TMPDIR).
	runDirRoot = "/run/ipfailover"
)

// cmdRun is the node agent. The order matters: everything that can reject
// the configuration (environment, scripts, host facts, template, keepalived
// -t, the chain) is checked before anything on the host is changed.
func cmdRun(args []string, stderr io.Writer, log *slog.Logger) int {
	if handled, code := supervisor.MaybeInit(os.Args, log); handled {
		return code
	}
	if len(args) > 0 {
		fmt.Fprintf(stderr, "ipfailover run takes no arguments (got %q); it is configured by the environment\n", args)
		return exitInvalid
	}
	log.Info("starting ipfailover", "version", version, "pid", os.Getpid())
	cfg, code := loadConfig(stderr, log)
	if code != exitOK {
		return code
	}
	if err := checkRunFiles(cfg, log); err != nil {
		return reportError(stderr, err)
	}
	keepalived, err := exec.LookPath("keepalived")
	if err != nil {
		return reportError(stderr, fmt.Errorf("keepalived binary: %w", err))
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hupSig := make(chan os.Signal, 1)
	signal.Notify(hupSig, syscall.SIGHUP)
	hup := make(chan struct{}, 1)
	go func() {
		for range hupSig {
			log.Info("SIGHUP received: re-rendering the configuration")
			select {
			case hup <- struct{}{}:
			default:
			}
		}
	}()

	// Files the agent will write: refuse before anything changes.
	if err := supervisor.CheckConfigPath(cfg.KeepalivedConfig); err != nil {
		return reportError(stderr, err)
	}
	runDir := runDir(cfg)
	if err := supervisor.PrepareRunDir(runDir); err != nil {
		return reportError(stderr, err)
	}
	// One agent per configuration per node: a second one would remove the
	// first one's VIPs as stale before failing on the busy port.
	unlock, err := supervisor.Lock(runDir + ".lock")
	if err != nil {
		return reportError(stderr, err)
	}
	defer unlock()

	n, err := hostnet.New()
	if err != nil {
		return reportError(stderr, err)
	}
	defer n.Close()
	host, err := waitForHost(ctx, n, cfg, log)
	if err != nil {
		if ctx.Err() != nil {
			log.Info("stopped while waiting for the interface")
			return exitOK
		}
		return reportError(stderr, err)
	}
	log.Info("node facts", "interface", host.Interface, "ipv4", host.Addr4, "ipv6", host.Addr6)
	if err := checkVIPConflicts(n, host.Interface, cfg); err != nil {
		return reportError(stderr, err)
	}

	fifo := filepath.Join(runDir, fifoName)
	renderFn := func(context.Context) ([]byte, error) { return renderConfig(cfg, host, fifo) }
	data, err := renderData(cfg, host, fifo)
	if err != nil {
		return reportError(stderr, err)
	}
	conf, err := executeTemplate(cfg, data)
	if err != nil {
		return reportError(stderr, err)
	}
	if err := supervisor.CheckConfig(ctx, keepalived, conf, checkTimeout); err != nil {
		if ctx.Err() != nil {
			log.Info("stopped during the pre-flight check; nothing on the host was changed")
			return exitOK
		}
		return reportError(stderr, err)
	}
	rules := multicastRules(cfg)
	tables, err := preflightChains(rules)
	if err != nil {
		return reportError(stderr, err)
	}
	if ctx.Err() != nil {
		log.Info("stopped before any change to the host")
		return exitOK
	}

	// From here on the host is changed.
	vips := vipPrefixes(cfg)
	release := func(context.Context) error {
		_, err := n.RemoveAddresses(host.Interface, vips, log)
		return err
	}
	if removed, err := n.RemoveAddresses(host.Interface, vips, log); err != nil {
		return reportError(stderr, fmt.Errorf("remove stale VIPs: %w", err))
	} else if len(removed) > 0 {
		log.Warn("removed VIPs left by a previous run: this node starts as BACKUP and holds none legitimately", "count", len(removed))
	}
	for i, r := range rules {
		if err := iptables.Ensure(tables[i], r); err != nil {
			return reportError(stderr, fmt.Errorf("multicast accept rule: %w", err))
		}
		log.Info("multicast accept rule in place", "chain", r.Chain, "ipv6", r.IPv6, "tag", r.Tag)
	}
	if len(rules) == 0 {
		log.Info("no multicast accept rule managed (OPENSHIFT_HA_IPTABLES_CHAIN is set to empty)")
	}

	// Creates the FIFO, serves metrics and runs the first health check, so
	// its result is on disk before keepalived reads it.
	obs, err := startObservability(ctx, cfg, host, data, runDir, log)
	if err != nil {
		_ = release(context.Background())
		return reportError(stderr, err)
	}
	defer obs.Close()
	// The rule is kept in place: someone deleting it (or an INPUT policy
	// of DROP after a firewall reload) would split every VIP.
	for i, r := range rules {
		k := &iptables.Keeper{Table: tables[i], Rule: r, Log: log, OnRestore: obs.ruleRestored}
		go k.Run(ctx)
	}

	err = supervisor.Run(ctx, supervisor.Options{
		Logger:      log,
		Binary:      keepalived,
		ConfigPath:  cfg.KeepalivedConfig,
		ExtraArgs:   cfg.KeepalivedOptions,
		RunDir:      runDir,
		OnEvent:     obs.OnEvent,
		Render:      renderFn,
		ReleaseVIPs: release,
		WatchPaths:  []string{env.ScriptProgram(cfg.CheckScript), env.ScriptProgram(cfg.NotifyScript), cfg.KeepalivedTemplate},
		// A stopped or hung keepalived keeps its VIPs while a peer takes
		// them too: replace it within one master-down interval.
		HangTimeout: 3*cfg.AdvertInterval + time.Second,
		Liveness:    obs.Liveness,
	}, hup)
	if err != nil {
		return reportError(stderr, err)
	}
	log.Info("stopped")
	return exitOK
}

// checkRunFiles checks on the node what render cannot check off-node: the
// template is readable. A missing or non-executable script is not fatal:
// keepalived disabled such a script for the original image and kept
// serving, so the agent logs it, reports it (/readyz, /status, metrics) and
// skips it until it appears.
func checkRunFiles(cfg env.Config, log *slog.Logger) error {
	var problems []env.Problem
	for _, s := range []struct{ name, line string }{
		{"OPENSHIFT_HA_CHECK_SCRIPT", cfg.CheckScript},
		{"OPENSHIFT_HA_NOTIFY_SCRIPT", cfg.NotifyScript},
	} {
		if s.line == "" {
			continue
		}
		if p := vrrpstate.ProgramProblem(env.ScriptProgram(s.line)); p != "" {
			log.Error("script cannot be run: it is skipped (the VIPs are served without it, as the original image's keepalived did) until it appears",
				"variable", s.name, "script", s.line, "problem", p)
		}
	}
	if cfg.KeepalivedTemplate != "" {
		if _, err := os.ReadFile(cfg.KeepalivedTemplate); err != nil {
			problems = append(problems, env.Problem{Variable: "OPENSHIFT_HA_KEEPALIVED_TEMPLATE", Value: cfg.KeepalivedTemplate, Reason: fmt.Sprintf("cannot be read: %v", errors.Unwrap(err))})
		}
	}
	if len(problems) > 0 {
		return &env.InvalidError{Problems: problems}
	}
	return nil
}

// waitForHost resolves the interface and waits, bounded and logged, until it
// is up with an address of every family the VIPs need.
func waitForHost(ctx context.Context, n *hostnet.Net, cfg env.Config, log *slog.Logger) (render.Host, error) {
	name, err := resolveInterface(n, cfg, "", log)
	if err != nil {
		return render.Host{}, err
	}
	h := render.Host{Interface: name}
	wctx, cancel := context.WithTimeout(ctx, interfaceWait)
	defer cancel()
	for _, f := range cfg.Families() {
		if _, err := n.WaitForInterface(wctx, h.Interface, int(f), vipPrefixes(cfg), 0, log); err != nil {
			return h, fmt.Errorf("waiting for interface %s: %w", h.Interface, err)
		}
	}
	return nodeAddresses(n, cfg, h)
}

// checkVIPConflicts refuses VIPs that are already addresses of this node
// (other than leftovers of ours on the interface): stale-VIP removal would
// otherwise delete the node's own address, and its subnet route with it.
func checkVIPConflicts(n *hostnet.Net, ifname string, cfg env.Config) error {
	conflicts, err := n.AddressConflicts(ifname, vipPrefixes(cfg))
	if err != nil {
		return err
	}
	var problems []env.Problem
	for _, a := range conflicts {
		problems = append(problems, env.Problem{Variable: "OPENSHIFT_HA_VIRTUAL_IPS", Value: a.String(),
			Reason: "is already an address of this node; a VIP must be an address that no node holds"})
	}
	if len(problems) > 0 {
		return &env.InvalidError{Problems: problems}
	}
	return nil
}

// preflightChains opens iptables for each rule and checks that its chain
// exists; a missing chain is a configuration error.
func preflightChains(rules []iptables.Rule) ([]iptables.Table, error) {
	tables := make([]iptables.Table, len(rules))
	for i, r := range rules {
		t, err := iptables.New(r.IPv6)
		if err != nil {
			return nil, fmt.Errorf("multicast accept rule: %w", err)
		}
		ok, err := t.ChainExists("filter", r.Chain)
		if err != nil {
			return nil, fmt.Errorf("multicast accept rule: %w", err)
		}
		if !ok {
			return nil, &env.InvalidError{Problems: []env.Problem{{
				Variable: "OPENSHIFT_HA_IPTABLES_CHAIN", Value: r.Chain,
				Reason: fmt.Sprintf("chain does not exist in the filter table (%s); name an existing chain, or set the variable to empty to manage no rule", map[bool]string{false: "iptables", true: "ip6tables"}[r.IPv6]),
			}}}
		}
		tables[i] = t
	}
	return tables, nil
}
