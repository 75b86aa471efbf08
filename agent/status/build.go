package status

import (
	"maps"
	"net/netip"
	"time"

	"github.com/ipfailover/ipfailover/render"
	"github.com/ipfailover/ipfailover/scripts"
	"github.com/ipfailover/ipfailover/statusapi"
	"github.com/ipfailover/ipfailover/vrrpstate"
	"github.com/ipfailover/ipfailover/wire"
)

// Snapshot is everything one status document is built from.
type Snapshot struct {
	Name, Version   string
	Host            render.Host
	Now, AgentStart time.Time

	Lifecycle  Lifecycle
	Problem    string // Unresponsive's verdict on the running keepalived
	ConfigPath string
	ConfigHash string // of the installed keepalived.conf, "" if unknown

	// Dump holds keepalived's counters by instance from the JSON dump
	// read at DumpAt.
	Dump   map[string]vrrpstate.Stats
	DumpAt time.Time

	Rules []statusapi.Rule
	Check *Check // nil: no health check
	// Undelivered is why health check results cannot be written for
	// keepalived, or "".
	Undelivered string
	Scripts     []statusapi.Script
	Instances   []vrrpstate.Instance
	// Addrs are the kernel's addresses by interface, for VIP presence.
	Addrs map[string][]netip.Prefix
	// Segment is the wire view (nil without a listener); Blocked says why
	// instances are held back by the rollout guard.
	Segment *wire.Snapshot
	Blocked []string
	// Kubernetes is the Kubernetes API features' state, nil when off.
	Kubernetes any
}

// Check is the health check's part of a Snapshot.
type Check struct {
	Command  string
	Interval int // seconds
	Last     scripts.Result
	Ran      bool // Last is set
	Timeouts uint64
}

// Build maps a snapshot to the status document, with health and readiness
// judged by Judge.
func Build(s Snapshot) statusapi.Status {
	l := s.Lifecycle
	st := statusapi.Status{
		Name: s.Name, Version: s.Version, Interface: s.Host.Interface, Time: s.Now,
		Keepalived: statusapi.Keepalived{Running: l.Running, PID: l.PID, StartedAt: l.StartedAt, LastDump: s.DumpAt},
		Config: statusapi.Config{
			Path: s.ConfigPath, Hash: s.ConfigHash, Loaded: l.Loaded, LastReload: l.LastReload,
			LastResult: l.LastResult, LastError: l.LastError, Reloads: map[string]uint64{},
		},
		MulticastRules: append([]statusapi.Rule{}, s.Rules...),
		Scripts:        s.Scripts,
	}
	maps.Copy(st.Config.Reloads, l.Reloads)
	if l.Starts > 1 {
		st.Keepalived.Restarts = l.Starts - 1
	}
	if s.Host.Addr4.IsValid() {
		st.NodeAddress = s.Host.Addr4.String()
	} else if s.Host.Addr6.IsValid() {
		st.NodeAddress = s.Host.Addr6.String()
	}
	if l.Running {
		st.Keepalived.Problem = s.Problem
		st.Keepalived.Responsive = s.Problem == ""
	} else if l.ExitReason != "" {
		st.Keepalived.Problem = "last exit: " + l.ExitReason
	}

	v := Judge(Facts{Now: s.Now, AgentStart: s.AgentStart, Lifecycle: l, Problem: s.Problem, Scripts: s.Scripts, Undelivered: s.Undelivered,
		Blocked: s.Blocked})
	st.Healthy, st.HealthProblem, st.Ready, st.ReadyProblem = v.Healthy, v.HealthProblem, v.Ready, v.ReadyProblem
	st.Segment, st.Blocked, st.Kubernetes = s.Segment, s.Blocked, s.Kubernetes

	if c := s.Check; c != nil {
		mc := &statusapi.Check{Command: c.Command, IntervalSeconds: float64(c.Interval), Timeouts: c.Timeouts}
		if r := c.Last; c.Ran {
			mc.Ran, mc.OK, mc.Result = true, r.OK(), r.Describe()
			mc.LastRun, mc.DurationSeconds, mc.Output = r.Start, r.Duration.Seconds(), r.Output
		}
		st.Check = mc
	}

	// A dump from before the running keepalived became ready describes
	// an earlier process.
	var stats map[string]vrrpstate.Stats
	if !s.DumpAt.Before(l.ReadyAt) {
		stats = s.Dump
	}
	up := st.Keepalived.Up()
	for _, in := range s.Instances {
		st.Instances = append(st.Instances, instance(in, up, s.Addrs[in.Interface], stats))
	}
	return st
}

// instance maps one instance of the state model. Its state value is only
// reported while keepalived is up, so no instance keeps claiming MASTER
// after keepalived is gone or stopped.
func instance(in vrrpstate.Instance, up bool, addrs []netip.Prefix, stats map[string]vrrpstate.Stats) statusapi.Instance {
	mi := statusapi.Instance{
		Name: in.Name, VRID: in.VRID, Interface: in.Interface, Family: in.Family,
		State: in.State.String(), Priority: in.EffectivePriority, BasePriority: in.Priority,
		LastTransition: in.LastTransition, Reason: in.Reason, Transitions: in.Transitions,
		RxLowerPriority: in.RxLowerPriority,
	}
	if up {
		// vrrpstate.State and statusapi.State* are keepalived's numbers.
		mi.StateValue = int(in.State)
	}
	for _, v := range in.VIPs {
		mi.VIPs = append(mi.VIPs, statusapi.VIP{Address: v.Addr().String(), Present: vrrpstate.Has(addrs, v.Addr())})
	}
	if st, ok := stats[in.Name]; ok {
		mi.KeepalivedCounter = &statusapi.Counters{
			AdvertsReceived: st.AdvertRcvd, AdvertsSent: st.AdvertSent,
			PriorityZeroRecv: st.PriZeroRcvd, PriorityZeroSent: st.PriZeroSent,
			PacketLengthErrors: st.PacketLenErr, AdvertIntervalErr: st.AdvertIntervalErr,
			IPTTLErrors: st.IPTTLErr, InvalidTypeReceived: st.InvalidTypeRcvd,
			AddressListErrors: st.AddrListErr, InvalidAuthType: st.InvalidAuthtype,
			AuthTypeMismatch: st.AuthtypeMismatch, AuthFailures: st.AuthFailure,
			BecomeMaster: st.BecomeMaster, ReleaseMaster: st.ReleaseMaster,
		}
	}
	return mi
}
