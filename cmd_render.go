package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/hostnet"
	"github.com/ipfailover/ipfailover/render"
)

// addrList collects repeated --address flags.
type addrList []netip.Addr

func (a *addrList) String() string { return fmt.Sprint(*a) }
func (a *addrList) Set(s string) error {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("not an IP address: %q", s)
	}
	*a = append(*a, ip)
	return nil
}

func cmdRender(args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ifname := fs.String("interface", "", "interface to render for instead of asking the host")
	var addrs addrList
	fs.Var(&addrs, "address", "this node's address (repeat for IPv4 and IPv6) instead of asking the host")
	if err := fs.Parse(args); err != nil {
		return exitInvalid
	}
	cfg, code := loadConfig(stderr, log)
	if code != exitOK {
		return code
	}
	host, err := hostFacts(cfg, *ifname, addrs, log)
	if err != nil {
		return reportError(stderr, err)
	}
	// The same FIFO wiring as run: the notify script is then run by the
	// agent, not by keepalived, so the config is exactly what run writes.
	out, err := renderConfig(cfg, host, filepath.Join(runDir(cfg), fifoName))
	if err != nil {
		return reportError(stderr, err)
	}
	if _, err := stdout.Write(out); err != nil {
		return reportError(stderr, err)
	}
	return exitOK
}

// runDir is the agent-owned directory of one configuration: keepalived's pid
// files and TMPDIR, the notify FIFO and the health check status file.
func runDir(cfg env.Config) string {
	return filepath.Join(runDirRoot, render.Scrub(cfg.Name))
}

// checkFile is where the agent writes the health check result that
// keepalived tracks.
func checkFile(cfg env.Config) string {
	return filepath.Join(runDir(cfg), "check.status")
}

// renderData is the template data for cfg on host, with the FIFO (or "")
// keepalived reports state changes to.
func renderData(cfg env.Config, host render.Host, fifo string) (render.Data, error) {
	return render.NewData(cfg, host, render.Options{Version: version, NotifyFIFO: fifo, CheckFile: checkFile(cfg)})
}

// renderConfig renders keepalived.conf for cfg on host with the embedded or
// the user's template.
func renderConfig(cfg env.Config, host render.Host, fifo string) ([]byte, error) {
	d, err := renderData(cfg, host, fifo)
	if err != nil {
		return nil, err
	}
	return executeTemplate(cfg, d)
}

// executeTemplate renders d with the embedded or the user's template.
func executeTemplate(cfg env.Config, d render.Data) ([]byte, error) {
	t, err := loadTemplate(cfg)
	if err != nil {
		return nil, err
	}
	return t.Execute(d)
}

func loadTemplate(cfg env.Config) (*render.Template, error) {
	if cfg.KeepalivedTemplate == "" {
		return render.Default()
	}
	text, err := os.ReadFile(cfg.KeepalivedTemplate)
	if err != nil {
		return nil, fmt.Errorf("OPENSHIFT_HA_KEEPALIVED_TEMPLATE: %w", err)
	}
	return render.Parse(cfg.KeepalivedTemplate, string(text))
}

// hostFacts finds the interface and its addresses, preferring what the
// caller gave (render's flags), then the configuration, then the host. run
// uses the same addresses once the interface is up (see waitForHost), so
// render prints what run writes.
func hostFacts(cfg env.Config, ifname string, addrs []netip.Addr, log *slog.Logger) (render.Host, error) {
	h := render.Host{Interface: ifname}
	for _, a := range addrs {
		if a.Is4() {
			h.Addr4 = a
		} else {
			h.Addr6 = a
		}
	}
	if ifname != "" && len(addrs) > 0 {
		// Off-node rendering: the flags are the host facts.
		var problems []env.Problem
		for _, v := range cfg.VIPs {
			if slices.Contains(addrs, v.Addr()) {
				problems = append(problems, env.Problem{Variable: "OPENSHIFT_HA_VIRTUAL_IPS", Value: v.Addr().String(),
					Reason: "is this node's address (--address); a VIP must be an address that no node holds"})
			}
		}
		if len(problems) > 0 {
			return h, &env.InvalidError{Problems: problems}
		}
		return h, nil
	}
	n, err := hostnet.New()
	if err != nil {
		return h, err
	}
	defer n.Close()
	if h.Interface, err = resolveInterface(n, cfg, ifname, log); err != nil {
		return h, err
	}
	if err := checkVIPConflicts(n, h.Interface, cfg); err != nil {
		return h, err
	}
	if len(addrs) > 0 {
		return h, nil
	}
	return nodeAddresses(n, cfg, h)
}

// nodeAddresses fills h's addresses from the interface: one of every
// family the VIPs need (an error when missing), and the IPv4 address in any
// case when there is one, because the default check targets it (as the
// original image always did).
func nodeAddresses(n *hostnet.Net, cfg env.Config, h render.Host) (render.Host, error) {
	vips := vipPrefixes(cfg)
	for _, f := range cfg.Families() {
		a, err := n.NodeAddress(h.Interface, int(f), vips)
		if err != nil {
			return h, err
		}
		if f == env.IPv4 {
			h.Addr4 = a
		} else {
			h.Addr6 = a
		}
	}
	if !h.Addr4.IsValid() {
		if a, err := n.NodeAddress(h.Interface, int(env.IPv4), vips); err == nil {
			h.Addr4 = a
		}
	}
	return h, nil
}

// resolveInterface picks the interface: the flag, else
// OPENSHIFT_HA_NETWORK_INTERFACE, else the interface whose connected subnet
// holds the first group's VIPs, else the default route's (any routing
// table), and logs which and why.
func resolveInterface(n *hostnet.Net, cfg env.Config, flagIf string, log *slog.Logger) (string, error) {
	var first []netip.Prefix
	if len(cfg.Groups) > 0 {
		for _, v := range cfg.Groups[0].VIPs {
			first = append(first, v.Prefix)
		}
	}
	name, why, err := n.ChooseInterface(cmp.Or(flagIf, cfg.Interface), first)
	if err != nil {
		return "", err
	}
	if flagIf != "" {
		why = "set by the --interface flag"
	}
	log.Info("interface chosen", "interface", name, "why", why)
	return name, nil
}
