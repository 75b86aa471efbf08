package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/iptables"
)

// cleanupTimeout bounds the whole cleanup, so a preStop hook or Job never
// hangs on a wedged ip or iptables.
const cleanupTimeout = 30 * time.Second

// MulticastRules lists the accept rules this configuration manages: none
// when no chain is configured, else one per address family of its VIPs.
func MulticastRules(cfg env.Config) []iptables.Rule {
	if cfg.IPTablesChain == "" {
		return nil
	}
	var rules []iptables.Rule
	for _, f := range cfg.Families() {
		rules = append(rules, iptables.Rule{Chain: cfg.IPTablesChain, IPv6: f == env.IPv6, Tag: iptables.TagFor(cfg.Name)})
	}
	return rules
}

// openChains opens the table of each rule and checks that its chain exists;
// a missing chain is a configuration error. It changes nothing.
func openChains(fw Firewall, rules []iptables.Rule) ([]iptables.Table, error) {
	tables := make([]iptables.Table, len(rules))
	for i, r := range rules {
		t, err := fw.Open(r.IPv6)
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

// ensureRules puts each rule in place at the top of its chain.
func ensureRules(tables []iptables.Table, rules []iptables.Rule, log *slog.Logger) error {
	for i, r := range rules {
		if err := iptables.Ensure(tables[i], r); err != nil {
			return fmt.Errorf("multicast accept rule: %w", err)
		}
		log.Info("multicast accept rule in place", "chain", r.Chain, "ipv6", r.IPv6, "tag", r.Tag)
	}
	if len(rules) == 0 {
		log.Info("no multicast accept rule managed (OPENSHIFT_HA_IPTABLES_CHAIN is set to empty)")
	}
	return nil
}

// Cleanup is `ipfailover cleanup`: it removes what cfg leaves on a node
// after its pods are gone, the multicast rule(s) and any of its VIPs still
// on the interface. It tries everything and returns every failure joined.
func Cleanup(ctx context.Context, cfg env.Config, d Deps) error {
	d = d.withDefaults()
	log := d.Log
	ctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
	defer cancel()
	var errs []error
	for _, r := range MulticastRules(cfg) {
		t, err := d.Firewall.Open(r.IPv6)
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
	} else if n, err := d.OpenNet(); err != nil {
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
	return errors.Join(errs...)
}
