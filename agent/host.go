package agent

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/render"
)

// waitForHost resolves the interface and waits, bounded and logged, until it
// is up with an address of every family the VIPs need.
func waitForHost(ctx context.Context, n HostNet, cfg env.Config, log *slog.Logger) (render.Host, error) {
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

// hostFacts finds the interface and its addresses for render, preferring
// what the caller gave (its flags), then the configuration, then the host.
// run uses the same addresses once the interface is up (see waitForHost),
// so render prints what run writes. With both an interface and addresses
// given the host is not asked at all (off-node rendering).
func hostFacts(cfg env.Config, ifname string, addrs []netip.Addr, openNet func() (HostNet, error), log *slog.Logger) (render.Host, error) {
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
	n, err := openNet()
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

// checkVIPConflicts refuses VIPs that are already addresses of this node
// (other than leftovers of ours on the interface): stale-VIP removal would
// otherwise delete the node's own address, and its subnet route with it.
func checkVIPConflicts(n HostNet, ifname string, cfg env.Config) error {
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

// nodeAddresses fills h's addresses from the interface: one of every
// family the VIPs need (an error when missing), and the IPv4 address in any
// case when there is one, because the default check targets it (as the
// original image always did). It is the one place the node's address is
// decided, for run and render alike.
func nodeAddresses(n HostNet, cfg env.Config, h render.Host) (render.Host, error) {
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
func resolveInterface(n HostNet, cfg env.Config, flagIf string, log *slog.Logger) (string, error) {
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

// vipPrefixes are the configuration's VIPs as keepalived adds them.
func vipPrefixes(cfg env.Config) []netip.Prefix {
	out := make([]netip.Prefix, len(cfg.VIPs))
	for i, v := range cfg.VIPs {
		out[i] = v.Prefix
	}
	return out
}
