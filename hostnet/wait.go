package hostnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// Defaults for WaitForInterface.
const (
	defaultPoll     = 500 * time.Millisecond
	waitLogInterval = 10 * time.Second
)

// WaitForInterface polls every poll (zero means 500ms) until ifname exists,
// is administratively up and has a node address of family fam (4 or 6), and
// returns that address as NodeAddress would with the same vips.
//
// It exists because keepalived started before its interface is ready sits in
// FAULT forever. What is still missing is logged when waiting starts, when it
// changes, and every 10 seconds; when ctx ends the error wraps ctx.Err() and
// says what was missing. Polling rather than an address subscription keeps
// it simple and catches every way an interface can become ready; half a
// second is short against keepalived's start-up.
func (n *Net) WaitForInterface(ctx context.Context, ifname string, fam int, vips []netip.Prefix, poll time.Duration, log *slog.Logger) (netip.Addr, error) {
	w := waiter{lookup: n.readLink, now: time.Now, logEvery: waitLogInterval}
	return w.wait(ctx, ifname, fam, vips, poll, log)
}

// waiter carries the injected dependencies of WaitForInterface.
type waiter struct {
	lookup   func(ifname string) (iface, error)
	now      func() time.Time
	logEvery time.Duration
}

func (w waiter) wait(ctx context.Context, ifname string, fam int, vips []netip.Prefix, poll time.Duration, log *slog.Logger) (netip.Addr, error) {
	if err := checkIfName(ifname); err != nil {
		return netip.Addr{}, err
	}
	if err := checkFamily(fam); err != nil {
		return netip.Addr{}, err
	}
	if poll <= 0 {
		poll = defaultPoll
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		start      = w.now()
		lastReason string
		lastLog    time.Time
		timer      *time.Timer
	)
	for {
		addr, reason := w.check(ifname, fam, vips)
		if reason == "" {
			if lastReason != "" {
				log.Info("interface ready", "interface", ifname, "family", familyName(fam),
					"address", addr.String(), "waited", w.now().Sub(start).Round(time.Millisecond).String())
			}
			return addr, nil
		}
		if now := w.now(); reason != lastReason || now.Sub(lastLog) >= w.logEvery {
			log.Info("waiting for interface", "interface", ifname, "family", familyName(fam),
				"missing", reason, "waited", now.Sub(start).Round(time.Millisecond).String())
			lastReason, lastLog = reason, now
		}
		if timer == nil {
			timer = time.NewTimer(poll)
			defer timer.Stop()
		} else {
			timer.Reset(poll)
		}
		select {
		case <-ctx.Done():
			return netip.Addr{}, fmt.Errorf("wait for interface %s: %s: %w", ifname, reason, ctx.Err())
		case <-timer.C:
		}
	}
}

// check returns the address, or a description of what is still missing.
func (w waiter) check(ifname string, fam int, vips []netip.Prefix) (netip.Addr, string) {
	l, err := w.lookup(ifname)
	if err != nil {
		if errors.Is(err, errNoSuchInterface) {
			return netip.Addr{}, fmt.Sprintf("interface %s does not exist", ifname)
		}
		return netip.Addr{}, err.Error()
	}
	if !l.up {
		return netip.Addr{}, fmt.Sprintf("interface %s is down", ifname)
	}
	addr, err := nodeAddress(l, fam, vips)
	if err != nil {
		return netip.Addr{}, err.Error()
	}
	return addr, ""
}
