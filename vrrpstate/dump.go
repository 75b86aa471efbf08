package vrrpstate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ipfailover/ipfailover/internal/runfile"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DumpFile is the name of keepalived's SIGJSON dump in its TMPDIR.
const DumpFile = "keepalived.json"

// Stats are an instance's counters from keepalived's JSON dump. They restart
// from zero when keepalived restarts.
type Stats struct {
	AdvertRcvd        uint64 `json:"advert_rcvd"`
	AdvertSent        uint64 `json:"advert_sent"`
	BecomeMaster      uint64 `json:"become_master"`
	ReleaseMaster     uint64 `json:"release_master"`
	PacketLenErr      uint64 `json:"packet_len_err"`
	AdvertIntervalErr uint64 `json:"advert_interval_err"`
	IPTTLErr          uint64 `json:"ip_ttl_err"`
	InvalidTypeRcvd   uint64 `json:"invalid_type_rcvd"`
	AddrListErr       uint64 `json:"addr_list_err"`
	InvalidAuthtype   uint64 `json:"invalid_authtype"`
	AuthtypeMismatch  uint64 `json:"authtype_mismatch"`
	AuthFailure       uint64 `json:"auth_failure"`
	PriZeroRcvd       uint64 `json:"pri_zero_rcvd"`
	PriZeroSent       uint64 `json:"pri_zero_sent"`
}

// DumpEntry is one instance of the dump.
type DumpEntry struct {
	Dumped
	Stats Stats
}

// dumpData is the subset of the dump's "data" object the agent reads. It
// deliberately has no auth_data field: the VRRP password in the dump is
// never decoded, so it cannot end up in a log line or a metric.
type dumpData struct {
	Iname             string   `json:"iname"`
	Ifname            string   `json:"ifp_ifname"`
	VRID              int      `json:"vrid"`
	State             int      `json:"state"`
	BasePriority      int      `json:"base_priority"`
	EffectivePriority int      `json:"effective_priority"`
	LastTransition    float64  `json:"last_transition"`
	VIPs              []string `json:"vips"`
}

// ParseDump parses keepalived.json. An incomplete file (keepalived renames
// it into place before writing it) is an error, so the caller retries.
func ParseDump(b []byte) ([]DumpEntry, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[len(b)-1] != ']' {
		return nil, errors.New("keepalived.json is incomplete")
	}
	var raw []struct {
		Data  dumpData `json:"data"`
		Stats Stats    `json:"stats"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		// The error text quotes no input, so the password cannot leak.
		return nil, fmt.Errorf("parse keepalived.json: %w", err)
	}
	out := make([]DumpEntry, 0, len(raw))
	for _, r := range raw {
		e := DumpEntry{Stats: r.Stats, Dumped: Dumped{
			Name: r.Data.Iname, VRID: r.Data.VRID, Interface: r.Data.Ifname,
			BasePriority: r.Data.BasePriority, EffectivePriority: r.Data.EffectivePriority,
		}}
		switch r.Data.State {
		case 0:
			e.State = StateInit
		case 1:
			e.State, e.Word = StateBackup, WordBackup
		case 2:
			e.State, e.Word = StateMaster, WordMaster
		case 3:
			e.State, e.Word = StateFault, WordFault
		case 97:
			e.Word = WordDeleted
		case 98:
			e.Word = WordStop
		}
		if r.Data.LastTransition > 0 {
			sec, frac := math.Modf(r.Data.LastTransition)
			e.LastTransition = time.Unix(int64(sec), int64(frac*1e9))
		}
		for _, v := range r.Data.VIPs {
			// "192.0.2.200/24 dev eth0 scope global set"
			f, _, _ := strings.Cut(v, " ")
			if p, err := netip.ParsePrefix(f); err == nil {
				e.VIPs = append(e.VIPs, p)
			} else if a, err := netip.ParseAddr(f); err == nil {
				e.VIPs = append(e.VIPs, netip.PrefixFrom(a, a.BitLen()))
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// Heartbeat asks keepalived for its JSON dump every Period (the JSON
// signal goes to the parent, which forwards it to the VRRP child, which
// writes the file). A fresh dump proves both processes run their event
// loops, so its age is a liveness signal that also catches a hung (not just
// a stopped) keepalived; the dump also carries the counters and a state
// snapshot. It must only signal a keepalived that is ready: the default
// action of a real-time signal is to terminate.
type Heartbeat struct {
	Dir    string         // keepalived's TMPDIR
	Signal syscall.Signal // from `keepalived --signum=JSON`
	Period time.Duration
	// PID returns the keepalived parent to signal, 0 when none is ready.
	PID func() int
	// OnDump is called with every complete dump.
	OnDump func([]DumpEntry, time.Time)
	Log    *slog.Logger

	mu     sync.Mutex
	lastOK time.Time
}

// Run signals every Period until ctx is done.
func (h *Heartbeat) Run(ctx context.Context) {
	t := time.NewTicker(h.Period)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pid := h.PID()
		if pid == 0 {
			continue
		}
		entries, err := h.Dump(ctx, pid)
		if err != nil {
			if !failing && h.Log != nil {
				h.Log.Warn("keepalived did not answer the JSON dump request", "pid", pid, "err", err)
			}
			failing = true
			continue
		}
		if failing && h.Log != nil {
			h.Log.Info("keepalived answers JSON dump requests again", "pid", pid)
		}
		failing = false
		now := time.Now()
		h.mu.Lock()
		h.lastOK = now
		h.mu.Unlock()
		if h.OnDump != nil {
			h.OnDump(entries, now)
		}
	}
}

// LastOK is when the last complete dump was read (zero if never).
func (h *Heartbeat) LastOK() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastOK
}

// Dump signals pid and waits (up to Period) for a new, complete dump.
func (h *Heartbeat) Dump(ctx context.Context, pid int) ([]DumpEntry, error) {
	path := filepath.Join(h.Dir, DumpFile)
	before, _ := os.Stat(path)
	if err := syscall.Kill(pid, h.Signal); err != nil {
		return nil, fmt.Errorf("signal keepalived %d: %w", pid, err)
	}
	deadline := time.Now().Add(h.Period)
	var lastErr error = errors.New("no new dump written")
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		st, err := os.Stat(path)
		if err != nil || (before != nil && os.SameFile(before, st) && st.ModTime().Equal(before.ModTime()) && st.Size() == before.Size()) {
			continue
		}
		b, err := runfile.Read(path)
		if err != nil {
			lastErr = err
			continue
		}
		entries, err := ParseDump(b)
		if err != nil {
			lastErr = err
			continue
		}
		return entries, nil
	}
	return nil, fmt.Errorf("no complete %s within %v: %w", path, h.Period, lastErr)
}
