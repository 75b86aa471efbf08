package vrrpstate

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// State is an instance's VRRP state. The values are the ones keepalived
// uses internally and the common keepalived exporters export, so existing
// dashboards and alerts map over.
type State int

// VRRP states.
const (
	StateInit   State = 0 // not running, stopped, or unknown
	StateBackup State = 1
	StateMaster State = 2
	StateFault  State = 3
)

// String returns INIT, BACKUP, MASTER or FAULT.
func (s State) String() string {
	switch s {
	case StateBackup:
		return "BACKUP"
	case StateMaster:
		return "MASTER"
	case StateFault:
		return "FAULT"
	}
	return "INIT"
}

// stateOf maps a FIFO state word to a State; STOP and DELETED mean the
// instance no longer runs, which is INIT.
func stateOf(w Word) State {
	switch w {
	case WordMaster:
		return StateMaster
	case WordBackup:
		return StateBackup
	case WordFault:
		return StateFault
	}
	return StateInit
}

// InstanceSpec is what the rendered configuration says about an instance.
type InstanceSpec struct {
	Name      string
	VRID      int
	Interface string
	Family    string // "ipv4" or "ipv6"
	Priority  int    // configured (base) priority
	VIPs      []netip.Prefix
}

// Instance is a snapshot of one instance's state.
type Instance struct {
	InstanceSpec
	State State
	// Word is the last state word keepalived wrote (MASTER, BACKUP, FAULT,
	// STOP, DELETED), "" before the first one or after keepalived exited.
	Word Word
	// EffectivePriority is the priority keepalived last reported.
	EffectivePriority int
	LastTransition    time.Time // zero before the first transition
	Reason            string    // why the last transition happened
	LastEvent         time.Time // last FIFO line or snapshot about it
	// Transitions counts state changes by the new state's word, lower
	// case: master, backup, fault, stop, deleted.
	Transitions map[string]uint64
	// RxLowerPriority counts MASTER_RX_LOWER_PRI events: this node, as
	// master, heard another master with a lower priority.
	RxLowerPriority uint64
	// Configured is false for an instance only seen on the FIFO or in a
	// dump (a user template named it differently).
	Configured bool
}

// Group is a snapshot of a vrrp_sync_group (only user templates have them).
type Group struct {
	Name           string
	Word           Word
	LastTransition time.Time
}

// Change is one state change the model accepted.
type Change struct {
	Line   Line // the FIFO line, or a synthesised one for a dump
	From   State
	To     State
	Reason string
	At     time.Time
}

// Facts tells the model about the node when it explains a FAULT. Nil
// functions mean "unknown".
type Facts struct {
	InterfaceUp  func(name string) bool
	CheckFailing func() bool
}

// Model is the state of every VRRP instance as keepalived reported it. It is
// safe for concurrent use.
type Model struct {
	mu     sync.Mutex
	now    func() time.Time
	facts  Facts
	inst   map[string]*Instance
	order  []string
	groups map[string]*Group
}

// NewModel starts every configured instance in INIT. now is the clock
// (time.Now in production).
func NewModel(specs []InstanceSpec, now func() time.Time, facts Facts) *Model {
	m := &Model{now: now, facts: facts, inst: map[string]*Instance{}, groups: map[string]*Group{}}
	for _, s := range specs {
		m.add(s, true)
	}
	return m
}

func (m *Model) add(s InstanceSpec, configured bool) *Instance {
	in := &Instance{InstanceSpec: s, EffectivePriority: s.Priority, Transitions: map[string]uint64{}, Configured: configured}
	m.inst[s.Name] = in
	m.order = append(m.order, s.Name)
	return in
}

// Apply records one FIFO line. It returns the change and true when the line
// changed an instance's or group's state; a repeated state (keepalived
// re-sends every state after a reload with fifo_write_vrrp_states_on_reload)
// and priority events return false.
func (m *Model) Apply(l Line) (Change, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if l.Scope == ScopeGroup {
		g := m.groups[l.Name]
		if g == nil {
			g = &Group{Name: l.Name}
			m.groups[l.Name] = g
		}
		if !l.Word.IsState() || g.Word == l.Word {
			return Change{}, false
		}
		from := stateOf(g.Word)
		g.Word, g.LastTransition = l.Word, now
		return Change{Line: l, From: from, To: stateOf(l.Word), At: now, Reason: "group " + strings.ToLower(string(l.Word))}, true
	}
	in := m.inst[l.Name]
	if in == nil {
		in = m.add(InstanceSpec{Name: l.Name}, false)
	}
	in.LastEvent = now
	if l.Word != WordStop && l.Word != WordDeleted {
		in.EffectivePriority = l.Priority
	}
	switch l.Word {
	case WordMasterRxLowerPri:
		in.RxLowerPriority++
		return Change{}, false
	case WordMasterPriority, WordBackupPriority:
		return Change{}, false
	}
	if in.Word == l.Word {
		return Change{}, false
	}
	c := Change{Line: l, From: in.State, To: stateOf(l.Word), At: now}
	c.Reason = m.reason(in, l.Word)
	in.Word, in.State = l.Word, c.To
	in.LastTransition, in.Reason = now, c.Reason
	in.Transitions[strings.ToLower(string(l.Word))]++
	return c, true
}

// reason explains a transition of in to w, from what the state machine
// allows and what the node facts say.
func (m *Model) reason(in *Instance, w Word) string {
	from := in.Word
	switch w {
	case WordMaster:
		if from == WordBackup {
			return "no advert from a higher-priority master within the master-down interval: the peer stopped, failed, lost its link or has a lower priority"
		}
		if from == WordFault {
			return "fault cleared and no higher-priority master heard"
		}
		return "no higher-priority master heard after start"
	case WordBackup:
		switch from {
		case WordMaster:
			return "a higher-priority master took over (peer advert with higher priority)"
		case WordFault:
			return "fault cleared (health check passing, interface up); waiting for the master-down interval"
		}
		return "started; listening for a master"
	case WordFault:
		if m.facts.InterfaceUp != nil && in.Interface != "" && !m.facts.InterfaceUp(in.Interface) {
			return "interface " + in.Interface + " is down"
		}
		if m.facts.CheckFailing != nil && m.facts.CheckFailing() {
			return "health check failed"
		}
		if !in.Configured {
			return "fault: the instance is no longer in the configuration, or its check or interface failed"
		}
		return "fault: the health check failed or the interface is down"
	case WordStop:
		return "keepalived stopped the instance (shutdown)"
	case WordDeleted:
		return "the instance was removed from the configuration"
	}
	return string(w)
}

// KeepalivedGone marks every instance INIT after keepalived exited or
// stopped answering, so no instance keeps claiming MASTER. It is not a VRRP
// transition: it is not counted and runs no notify script, but the next
// state keepalived reports is a change again.
func (m *Model) KeepalivedGone(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for _, in := range m.inst {
		if in.Word == "" && in.State == StateInit {
			continue
		}
		in.Word, in.State = "", StateInit
		in.LastTransition, in.Reason = now, reason
	}
	for _, g := range m.groups {
		g.Word = ""
	}
}

// Dumped is one instance as keepalived's state dump (SIGJSON) reports it.
type Dumped struct {
	Name              string
	VRID              int
	Interface         string
	State             State
	Word              Word // MASTER, BACKUP, FAULT, STOP or DELETED
	EffectivePriority int
	BasePriority      int
	LastTransition    time.Time
	VIPs              []netip.Prefix
}

// Reconcile merges a state dump. Configuration facts missing for instances
// only seen on the FIFO are filled in, the effective priority is taken, and
// a state that differs from the model's is adopted only if keepalived's own
// last transition is newer than the model's last FIFO line about the
// instance (the FIFO drops lines when it overflows). Adopted states are
// returned as changes.
func (m *Model) Reconcile(ds []Dumped) []Change {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Change
	for _, d := range ds {
		in := m.inst[d.Name]
		if in == nil {
			in = m.add(InstanceSpec{Name: d.Name}, false)
		}
		if in.VRID == 0 {
			in.VRID = d.VRID
		}
		if in.Interface == "" {
			in.Interface = d.Interface
		}
		if len(in.VIPs) == 0 {
			in.VIPs = slices.Clone(d.VIPs)
			if len(d.VIPs) > 0 && in.Family == "" {
				in.Family = "ipv4"
				if d.VIPs[0].Addr().Is6() {
					in.Family = "ipv6"
				}
			}
		}
		if in.Priority == 0 {
			in.Priority = d.BasePriority
		}
		if d.EffectivePriority > 0 {
			in.EffectivePriority = d.EffectivePriority
		}
		if d.Word == "" || d.Word == in.Word || !d.LastTransition.After(in.LastEvent) {
			continue
		}
		now := m.now()
		c := Change{
			Line: Line{Scope: ScopeInstance, Name: d.Name, Word: d.Word, Priority: d.EffectivePriority},
			From: in.State, To: d.State, At: now,
			Reason: m.reason(in, d.Word) + " (from keepalived's state dump; the FIFO line was missed)",
		}
		in.Word, in.State, in.LastEvent = d.Word, d.State, now
		in.LastTransition, in.Reason = d.LastTransition, c.Reason
		in.Transitions[strings.ToLower(string(d.Word))]++
		out = append(out, c)
	}
	return out
}

// Instances returns copies of every instance, configured ones first in
// configuration order.
func (m *Model) Instances() []Instance {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Instance, 0, len(m.order))
	for _, n := range m.order {
		in := *m.inst[n]
		in.VIPs = slices.Clone(in.VIPs)
		t := make(map[string]uint64, len(in.Transitions))
		for k, v := range in.Transitions {
			t[k] = v
		}
		in.Transitions = t
		out = append(out, in)
	}
	return out
}

// Groups returns the sync groups seen, sorted by name.
func (m *Model) Groups() []Group {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Group, 0, len(m.groups))
	for _, g := range m.groups {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Group) int { return strings.Compare(a.Name, b.Name) })
	return out
}
