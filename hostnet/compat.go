package hostnet

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// The functions in this file keep package main compiling until it uses Net;
// each opens a Net for the current namespace, makes one call and closes it.

// ExecRunner is accepted by the deprecated RemoveAddresses only so that its
// callers keep compiling; hostnet no longer runs commands.
//
// Deprecated: use New and Net.RemoveAddresses.
type ExecRunner struct{}

// RemoveAddresses removes stale VIPs from ifname in the current namespace
// with Net.RemoveAddresses semantics: exact address and prefix length only.
//
// Deprecated: use New and Net.RemoveAddresses.
func RemoveAddresses(ctx context.Context, _ ExecRunner, ifname string, vips []netip.Prefix, log *slog.Logger) ([]netip.Prefix, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("remove VIPs from %s: %w", ifname, err)
	}
	n, err := New()
	if err != nil {
		return nil, fmt.Errorf("remove VIPs from %s: %w", ifname, err)
	}
	defer n.Close()
	return n.RemoveAddresses(ifname, vips, log)
}

// DefaultRouteInterface returns the interface of the IPv4 default route or,
// when there is none, of the IPv6 one, looked for in every routing table
// with main preferred. procRoot is ignored: routes are read over netlink.
//
// Deprecated: use New and Net.ChooseInterface, which also prefers the
// interface whose connected subnet holds the VIPs.
func DefaultRouteInterface(procRoot string) (string, error) {
	n, err := New()
	if err != nil {
		return "", fmt.Errorf("find default route interface: %w", err)
	}
	defer n.Close()
	name, _, err := n.ChooseInterface("", nil)
	return name, err
}

// WaitForInterface is Net.WaitForInterface in the current namespace without
// VIPs to exclude.
//
// Deprecated: use New and Net.WaitForInterface with the VIPs.
func WaitForInterface(ctx context.Context, ifname string, fam int, poll time.Duration, log *slog.Logger) (netip.Addr, error) {
	n, err := New()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("wait for interface %s: %w", ifname, err)
	}
	defer n.Close()
	return n.WaitForInterface(ctx, ifname, fam, nil, poll, log)
}
