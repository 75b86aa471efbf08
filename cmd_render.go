package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"

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
	out, err := renderConfig(cfg, host, "")
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
// caller gave (render's flags), then the configuration, then the host.
func hostFacts(cfg env.Config, ifname string, addrs []netip.Addr, log *slog.Logger) (render.Host, error) {
	name, err := resolveInterface(cfg, ifname, log)
	if err != nil {
		return render.Host{}, err
	}
	h := render.Host{Interface: name}
	for _, a := range addrs {
		if a.Is4() {
			h.Addr4 = a
		} else {
			h.Addr6 = a
		}
	}
	if len(addrs) > 0 {
		return h, nil
	}
	for _, f := range cfg.Families() {
		a, err := hostnet.PrimaryAddress(h.Interface, int(f))
		if err != nil {
			return h, fmt.Errorf("interface %s: %w", h.Interface, err)
		}
		if f == env.IPv4 {
			h.Addr4 = a
		} else {
			h.Addr6 = a
		}
	}
	return h, nil
}

// resolveInterface picks the interface: the flag, else
// OPENSHIFT_HA_NETWORK_INTERFACE, else the default route's, and logs why.
func resolveInterface(cfg env.Config, ifname string, log *slog.Logger) (string, error) {
	switch {
	case ifname != "":
		return ifname, nil
	case cfg.Interface != "":
		log.Info("using interface from OPENSHIFT_HA_NETWORK_INTERFACE", "interface", cfg.Interface)
		return cfg.Interface, nil
	}
	name, err := hostnet.DefaultRouteInterface("/proc")
	if err != nil {
		return "", fmt.Errorf("OPENSHIFT_HA_NETWORK_INTERFACE is unset and the default route's interface is unknown: %w", err)
	}
	log.Info("using the default route's interface (OPENSHIFT_HA_NETWORK_INTERFACE is unset)", "interface", name)
	return name, nil
}
