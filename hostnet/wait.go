package hostnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// Defaults for WaitForInterface.
const (
	defaultPoll     = 500 * time.Millisecond
	waitLogInterval = 10 * time.Second
)

// WaitForInterface polls every poll (zero means 500ms) until ifname exists,
// is administratively up and has a global address of family fam (4 or 6),
// and returns that address as PrimaryAddress would.
//
// It exists because keepalived started before its interface is ready sits in
// FAULT forever. What is still missing is logged when waiting starts, when it
// changes, and every 10 seconds; when ctx ends the error wraps ctx.Err() and
// says what was missing.
func WaitForInterface(ctx context.Context, ifname string, fam int, poll time.Duration, log *slog.Logger) (netip.Addr, error) {
	w := waiter{lookup: lookupInterface, now: time.Now, logEvery: waitLogInterval}
	return w.wait(ctx, ifname, fam, poll, log)
}

// lookupFunc returns an interface's flags and addresses.
type lookupFunc func(ifname string) (net.Flags, []net.Addr, error)

func lookupInterface(ifname string) (net.Flags, []net.Addr, error) {
	iface, err := net.InterfaceByName(ifname)
	if err != nil {
		return 0, nil, err
	}
	addrs, err := iface.Addrs()
	if err != nil {
		return 0, nil, err
	}
	return iface.Flags, addrs, nil
}

// waiter carries the injected dependencies of WaitForInterface.
type waiter struct {
	lookup   lookupFunc
	now      func() time.Time
	logEvery time.Duration
}

func (w waiter) wait(ctx context.Context, ifname string, fam int, poll time.Duration, log *slog.Logger) (netip.Addr, error) {
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
		addr, reason := w.check(ifname, fam)
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
func (w waiter) check(ifname string, fam int) (netip.Addr, string) {
	flags, addrs, err := w.lookup(ifname)
	if err != nil {
		var nerr *net.OpError
		if errors.As(err, &nerr) && nerr.Err != nil && nerr.Err.Error() == "no such network interface" {
			return netip.Addr{}, fmt.Sprintf("interface %s does not exist", ifname)
		}
		return netip.Addr{}, fmt.Sprintf("interface %s: %v", ifname, err)
	}
	if flags&net.FlagUp == 0 {
		return netip.Addr{}, fmt.Sprintf("interface %s is down", ifname)
	}
	addr, ok := firstGlobal(addrs, fam)
	if !ok {
		return netip.Addr{}, fmt.Sprintf("interface %s has no global %s address", ifname, familyName(fam))
	}
	return addr, ""
}
