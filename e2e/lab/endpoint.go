package lab

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// Helpers for servers on the lab's segment other than the nodes (such as
// the Kubernetes API server of e2e/kube_test.go), and for giving a node's
// PID 1 files at fixed paths (such as in-cluster credentials).

// maxEndpointName keeps "ipf-<id>-<name>" within a link name's 15 bytes:
// the namespace name is also the name of its veth end on the bridge.
const maxEndpointName = 15 - len(Prefix) - 4 - 1

// AddEndpoint attaches one more network namespace to the lab's bridge, with
// addresses 192.0.2.host/24 and 2001:db8::host/64 on its eth0. Its name
// carries the lab's run id, so Close (and Down) kill what runs in it and
// remove it with the rest. host must not be a node's (11..19), the
// client's (100) or a VIP of the test.
func (l *Lab) AddEndpoint(ctx context.Context, name string, host int) (*Endpoint, error) {
	if name == "" || len(name) > maxEndpointName || strings.ContainsAny(name, "/ ") {
		return nil, fmt.Errorf("lab: endpoint name %q: want 1 to %d characters, no '/' or space", name, maxEndpointName)
	}
	if host < 1 || host > 254 || (host > 10 && host <= 10+maxNodes) || host == 100 {
		return nil, fmt.Errorf("lab: endpoint host %d: want 1-254, not a node's (11-%d) or the client's (100)", host, 10+maxNodes)
	}
	ep := l.endpoint(name, host)
	steps := [][]string{
		{"ip", "netns", "add", ep.NS},
		{"ip", "netns", "exec", ep.NS, "sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"},
		{"ip", "-n", ep.NS, "link", "set", "lo", "up"},
		{"ip", "-n", ep.NS, "link", "add", Interface, "type", "veth", "peer", "name", ep.Peer, "netns", l.Switch},
		{"ip", "-n", l.Switch, "link", "set", ep.Peer, "master", bridgeName, "up"},
		{"ip", "-n", ep.NS, "addr", "add", ep.IPv4.String() + "/24", "dev", Interface},
		{"ip", "-n", ep.NS, "addr", "add", ep.IPv6.String() + "/64", "dev", Interface, "nodad"},
		{"ip", "-n", ep.NS, "link", "set", Interface, "up"},
	}
	for _, s := range steps {
		if _, err := l.run(ctx, s[0], s[1:]...); err != nil {
			// Close removes a half-built namespace with the lab.
			return nil, fmt.Errorf("lab %s: endpoint %s: %w", l.ID, name, err)
		}
	}
	l.log.Info("endpoint added", "name", name, "ns", ep.NS, "ipv4", ep.IPv4)
	return &ep, nil
}

// Dial connects to a literal address (host:port) with a socket created
// inside the endpoint's network namespace; the connection stays usable from
// any goroutine. Its signature is net.Dialer.DialContext's, so it can be an
// HTTP transport's or a client-go rest.Config's dialer: that is how this
// process, outside the lab, reaches a server on the lab's segment.
func (e *Endpoint) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNetns(e.NS, func() error {
		var d net.Dialer
		var err error
		// A literal address is dialled on this goroutine, so the socket
		// is created inside the namespace.
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s in %s: %w", addr, e.Name, err)
	}
	return c, nil
}

// Bind is a host directory bind-mounted read-only into a node's private
// mount namespace.
type Bind struct {
	Source string // host path
	Target string // path inside the node; created when missing
}

// WithBinds returns spec with a PID 1 that first bind-mounts every Bind
// (read-only, as the kubelet mounts a service-account token) and then execs
// spec's program, which so keeps PID 1. The mounts live in the node's own
// mount namespace: on its private tmpfs directories (/run, hence
// /var/run) they are invisible to the host and to other nodes, and the
// host can still change the files under Source.
func WithBinds(spec Spec, binds ...Bind) Spec {
	var script strings.Builder
	script.WriteString("set -e\n")
	for _, b := range binds {
		src, dst := shellQuote(b.Source), shellQuote(b.Target)
		fmt.Fprintf(&script, "mkdir -p %s\nmount --bind %s %s\nmount -o remount,bind,ro %s\n", dst, src, dst, dst)
	}
	script.WriteString("exec")
	for _, a := range spec.Argv {
		script.WriteString(" " + shellQuote(a))
	}
	out := spec
	out.Argv = []string{"/bin/sh", "-c", script.String()}
	return out
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
