package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"

	"github.com/ipfailover/ipfailover/agent"
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

// cmdRender prints keepalived.conf exactly as run would write it.
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
	out, err := agent.Render(cfg, *ifname, addrs, agent.HostDeps(log, version))
	if err != nil {
		return reportError(stderr, err)
	}
	if _, err := stdout.Write(out); err != nil {
		return reportError(stderr, err)
	}
	return exitOK
}
