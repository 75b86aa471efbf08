package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"

	"github.com/ipfailover/ipfailover/agent"
	"github.com/ipfailover/ipfailover/internal/cli"
)

var renderCommand = command{Command: cli.Command{
	Name:    "render",
	Summary: "print the keepalived.conf that run would write on this node, and change nothing",
	Long: `Reads the same environment as run. On a node, the interface and the node's
addresses come from the host, so the output is exactly what run writes there.
Off-node, --interface and --address stand in for them.`,
	Example: `OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100-102 ipfailover render
OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100-102 ipfailover render --interface eth0 --address 192.0.2.10`,
}}

// cmdRender prints keepalived.conf exactly as run would write it.
func cmdRender(c cli.Command, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := c.NewFlagSet()
	ifname := fs.String("interface", "", "interface to render for instead of asking the host")
	ips := fs.IPSlice("address", nil, "this node's address instead of asking the host (repeat, or separate by commas, for IPv4 and IPv6)")
	if code, done := c.Parse(fs, args, stdout, stderr); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ipfailover render takes no arguments (got %q)\n", fs.Args())
		return exitInvalid
	}
	addrs, ok := addrsOf(*ips)
	if !ok {
		fmt.Fprintf(stderr, "ipfailover render: --address %v: not IPv4 or IPv6 addresses\n", *ips)
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

func addrsOf(ips []net.IP) ([]netip.Addr, bool) {
	out := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			return nil, false
		}
		out = append(out, a.Unmap())
	}
	return out, true
}
