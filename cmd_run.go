package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
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
	if err := checkRunFiles(cfg); err != nil {
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

	host, err := waitForHost(ctx, cfg, log)
	if err != nil {
		if ctx.Err() != nil {
			log.Info("stopped while waiting for the interface")
			return exitOK
		}
		return reportError(stderr, err)
	}
	log.Info("node facts", "interface", host.Interface, "ipv4", host.Addr4, "ipv6", host.Addr6)

	runDir := runDir(cfg)
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
	if err := preflightCheck(ctx, keepalived, conf); err != nil {
		return reportError(stderr, err)
	}
	rules := multicastRules(cfg)
	tables, err := preflightChains(rules)
	if err != nil {
		return reportError(stderr, err)
	}

	// From here on the host is changed.
	runner := hostnet.ExecRunner{}
	release := func(ctx context.Context) error {
		_, err := hostnet.RemoveAddresses(ctx, runner, host.Interface, vipPrefixes(cfg), log)
		return err
	}
	if removed, err := hostnet.RemoveAddresses(ctx, runner, host.Interface, vipPrefixes(cfg), log); err != nil {
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
		return reportError(stderr, err)
	}
	defer obs.Close()

	err = supervisor.Run(ctx, supervisor.Options{
		Logger:      log,
		Binary:      keepalived,
		ConfigPath:  cfg.KeepalivedConfig,
		ExtraArgs:   cfg.KeepalivedOptions,
		RunDir:      runDir,
		OnEvent:     obs.OnEvent,
		Render:      renderFn,
		ReleaseVIPs: release,
		WatchPaths:  []string{cfg.CheckScript, cfg.NotifyScript, cfg.KeepalivedTemplate},
	}, hup)
	if err != nil {
		return reportError(stderr, err)
	}
	log.Info("stopped")
	return exitOK
}

// checkRunFiles checks on the node what render cannot check off-node: the
// scripts exist and are executable, and the template is readable.
func checkRunFiles(cfg env.Config) error {
	var problems []env.Problem
	for _, s := range []struct{ name, path string }{
		{"OPENSHIFT_HA_CHECK_SCRIPT", cfg.CheckScript},
		{"OPENSHIFT_HA_NOTIFY_SCRIPT", cfg.NotifyScript},
	} {
		if s.path == "" {
			continue
		}
		st, err := os.Stat(s.path)
		switch {
		case err != nil:
			problems = append(problems, env.Problem{Variable: s.name, Value: s.path, Reason: fmt.Sprintf("cannot be used: %v; it must be an existing executable file in the pod", errors.Unwrap(err))})
		case !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0:
			problems = append(problems, env.Problem{Variable: s.name, Value: s.path, Reason: fmt.Sprintf("is not an executable file (mode %v); mount it with defaultMode 0755", st.Mode())})
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
func waitForHost(ctx context.Context, cfg env.Config, log *slog.Logger) (render.Host, error) {
	name, err := resolveInterface(cfg, "", log)
	if err != nil {
		return render.Host{}, err
	}
	h := render.Host{Interface: name}
	wctx, cancel := context.WithTimeout(ctx, interfaceWait)
	defer cancel()
	for _, f := range cfg.Families() {
		if _, err := hostnet.WaitForInterface(wctx, h.Interface, int(f), 0, log); err != nil {
			return h, fmt.Errorf("waiting for interface %s: %w", h.Interface, err)
		}
		a, err := nodeAddress(h.Interface, f, cfg.VIPs)
		if err != nil {
			return h, err
		}
		if f == env.IPv4 {
			h.Addr4 = a
		} else {
			h.Addr6 = a
		}
	}
	return h, nil
}

// nodeAddress is the interface's first global address of family f that is
// not one of the VIPs: a VIP left on the interface by a crashed run must
// never be mistaken for the node's own address.
func nodeAddress(ifname string, f env.Family, vips []env.VIP) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %s: %w", ifname, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("addresses of %s: %w", ifname, err)
	}
	isVIP := map[netip.Addr]bool{}
	for _, v := range vips {
		isVIP[v.Addr()] = true
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if env.FamilyOf(ip) == f && ip.IsGlobalUnicast() && !isVIP[ip] {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no %s address other than the VIPs", ifname, f)
}

// preflightCheck runs `keepalived -t` on the rendered config before anything
// on the host changes, so a config keepalived rejects fails the start cleanly.
func preflightCheck(ctx context.Context, keepalived string, conf []byte) error {
	f, err := os.CreateTemp("", "ipfailover-preflight-*.conf")
	if err != nil {
		return fmt.Errorf("pre-flight config check: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(conf); err != nil {
		f.Close()
		return fmt.Errorf("pre-flight config check: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("pre-flight config check: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, keepalived, "-t", "-e", "-f", f.Name()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("keepalived rejected the rendered configuration (%v):\n%s", err, out)
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
