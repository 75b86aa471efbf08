package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/hostnet"
	"github.com/ipfailover/ipfailover/iptables"
)

// cleanupTimeout bounds the whole cleanup, so a preStop hook or Job never
// hangs on a wedged ip or iptables.
const cleanupTimeout = 30 * time.Second

// cmdCleanup removes what this configuration leaves on a node after its pods
// are gone: the multicast rule(s) and any of its VIPs still on the interface.
func cmdCleanup(args []string, stderr io.Writer, log *slog.Logger) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: ipfailover cleanup (configured by the same environment as run)")
		return exitInvalid
	}
	cfg, code := loadConfig(stderr, log)
	if code != exitOK {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	var errs []error
	for _, r := range multicastRules(cfg) {
		t, err := iptables.New(r.IPv6)
		if err == nil {
			err = iptables.Remove(t, r)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("removed multicast accept rule", "chain", r.Chain, "ipv6", r.IPv6, "tag", r.Tag)
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	} else if n, err := hostnet.New(); err != nil {
		errs = append(errs, err)
	} else {
		defer n.Close()
		ifname, err := resolveInterface(n, cfg, "", log)
		if err != nil {
			errs = append(errs, fmt.Errorf("find the interface holding VIPs: %w", err))
		} else if _, err := n.RemoveAddresses(ifname, vipPrefixes(cfg), log); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return reportError(stderr, err)
	}
	return exitOK
}

// multicastRules lists the accept rules this configuration manages: none
// when no chain is configured, else one per address family of its VIPs.
func multicastRules(cfg env.Config) []iptables.Rule {
	if cfg.IPTablesChain == "" {
		return nil
	}
	var rules []iptables.Rule
	for _, f := range cfg.Families() {
		rules = append(rules, iptables.Rule{Chain: cfg.IPTablesChain, IPv6: f == env.IPv6, Tag: iptables.TagFor(cfg.Name)})
	}
	return rules
}

func vipPrefixes(cfg env.Config) []netip.Prefix {
	out := make([]netip.Prefix, len(cfg.VIPs))
	for i, v := range cfg.VIPs {
		out[i] = v.Prefix
	}
	return out
}
