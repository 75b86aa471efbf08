package iptables

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultKeepInterval is how often a Keeper reads its rule back. A rule
// deleted by someone else (a firewall reload, an operator's iptables -F)
// is back within one interval plus the few milliseconds of the insert;
// without it the node stops hearing VRRP adverts and claims every VIP.
const DefaultKeepInterval = 2 * time.Second

// Keeper keeps one configuration's rule in place while the agent runs. It
// only ever deletes or inserts rules carrying Rule.Tag (through Ensure), so
// other configurations' and other software's rules are never touched.
type Keeper struct {
	Table Table
	Rule  Rule
	// Interval between read-backs (default DefaultKeepInterval; larger
	// values are capped to it so a lost rule is back within 5 s).
	Interval time.Duration
	// Log receives one WARN record per restoration and per change of an
	// error; nil discards.
	Log *slog.Logger
	// OnRestore, if set, is called after every re-insertion (metrics
	// hook, e.g. statusapi.Server.ObserveRuleRestored). It must not block.
	OnRestore func(Rule)

	restored atomic.Uint64
	lastErr  string // Run's goroutine only: suppresses repeated error logs
}

// Family is "ipv4" or "ipv6", as metric labels and logs name it.
func (r Rule) Family() string {
	if r.IPv6 {
		return "ipv6"
	}
	return "ipv4"
}

// Restored is how many times the rule was re-inserted so far.
func (k *Keeper) Restored() uint64 { return k.restored.Load() }

// Run checks the rule every Interval until ctx ends. Errors (a missing
// chain, a held xtables lock) are logged when they change and retried; Run
// only returns, with nil, when ctx is done.
func (k *Keeper) Run(ctx context.Context) error {
	interval := k.Interval
	if interval <= 0 || interval > DefaultKeepInterval {
		interval = DefaultKeepInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		_, err := k.Check()
		k.noteErr(err)
	}
}

// Check reads the rule back once and re-inserts it if it is missing,
// duplicated, changed or displaced behind a non-VRRP rule. It reports
// whether it re-inserted the rule.
func (k *Keeper) Check() (restored bool, err error) {
	st, err := inspect(k.Table, k.Rule)
	if err != nil {
		return false, err
	}
	if st.ok() {
		return false, nil
	}
	found := st.describe() // positions say whether it was displaced
	if err := Ensure(k.Table, k.Rule); err != nil {
		return false, fmt.Errorf("restore VRRP accept rule in chain %s: %w", k.Rule.Chain, err)
	}
	n := k.restored.Add(1)
	k.log().Warn("multicast accept rule was not in place; inserted it again at the top of the chain",
		"chain", k.Rule.Chain, "family", k.Rule.Family(), "found", found,
		"rule", strings.Join(k.Rule.Spec(), " "), "restorations", n)
	if k.OnRestore != nil {
		k.OnRestore(k.Rule)
	}
	return true, nil
}

// noteErr logs an error once until it changes or clears, so a chain that
// stays missing does not log every two seconds.
func (k *Keeper) noteErr(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg == k.lastErr {
		return
	}
	k.lastErr = msg
	switch {
	case err == nil:
		k.log().Info("multicast accept rule can be checked again", "chain", k.Rule.Chain, "family", k.Rule.Family())
	case errors.Is(err, ErrNoChain):
		k.log().Warn("chain of the multicast accept rule is gone; the rule is inserted again once the chain exists",
			"chain", k.Rule.Chain, "family", k.Rule.Family(), "err", err)
	default:
		k.log().Warn("cannot check the multicast accept rule; retrying", "chain", k.Rule.Chain, "family", k.Rule.Family(), "err", err)
	}
}

func (k *Keeper) log() *slog.Logger {
	if k.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return k.Log
}
