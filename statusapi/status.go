// Package statusapi owns the agent's HTTP face, its status API: the Prometheus registry and
// its collectors (/metrics), liveness and readiness (/healthz, /readyz), and
// the status document as JSON (/status) and as a server-rendered HTML page
// (/). Everything it serves is computed at request time from one Status
// snapshot supplied by the agent, so a state change is visible on the very
// next scrape. It does not read keepalived or the kernel itself.
package statusapi

import (
	"github.com/ipfailover/ipfailover/vrrpstate"
	"time"

	"github.com/ipfailover/ipfailover/wire"
)

// Status is everything the agent knows about this node's VRRP instances and
// their surroundings. It is served as /status and decoded by
// `ipfailover status`, so field names are a compatibility promise.
type Status struct {
	Name          string    `json:"name"`
	Version       string    `json:"version"`
	Interface     string    `json:"interface"`
	NodeAddress   string    `json:"node_address"`
	Time          time.Time `json:"time"`
	Healthy       bool      `json:"healthy"`
	HealthProblem string    `json:"health_problem,omitempty"`
	Ready         bool      `json:"ready"`
	ReadyProblem  string    `json:"ready_problem,omitempty"`

	Keepalived     Keepalived `json:"keepalived"`
	Config         Config     `json:"config"`
	Check          *Check     `json:"check,omitempty"`
	MulticastRules []Rule     `json:"multicast_rules"`
	Instances      []Instance `json:"instances"`
	// Scripts are the user's check and notify scripts, with why they
	// cannot be run when they cannot (they are skipped meanwhile, as
	// keepalived skipped them for the original image).
	Scripts []Script `json:"scripts,omitempty"`
	// Segment is VRRP as this node hears it on the wire: every VRID and
	// family advertised on the segment (other configurations' too), its
	// master and the conflicts found. Nil when the agent cannot listen
	// (no CAP_NET_RAW).
	Segment *wire.Snapshot `json:"segment,omitempty"`
	// Kubernetes is the Kubernetes API features' state (package kube's
	// Status: up, down or off, the owner, selector and peers); absent when
	// the features are off.
	Kubernetes any `json:"kubernetes,omitempty"`
	// Blocked says why instances of this node are held back from
	// keepalived by the rollout guard (OPENSHIFT_HA_CONFLICT_POLICY=refuse);
	// empty when every instance runs.
	Blocked []string `json:"blocked,omitempty"`
}

// Script is one configured user script.
type Script struct {
	Variable string `json:"variable"` // OPENSHIFT_HA_CHECK_SCRIPT or OPENSHIFT_HA_NOTIFY_SCRIPT
	Command  string `json:"command"`
	Problem  string `json:"problem,omitempty"` // "" when it can be run
}

// Keepalived is the supervised process.
type Keepalived struct {
	Running bool `json:"running"`
	// Responsive is false when keepalived or its VRRP child is stopped
	// (SIGSTOP) or has not answered the periodic JSON dump request.
	Responsive bool      `json:"responsive"`
	PID        int       `json:"pid,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	LastDump   time.Time `json:"last_dump,omitzero"`
	Restarts   uint64    `json:"restarts"`
	Problem    string    `json:"problem,omitempty"`
}

// Up is what ipfailover_keepalived_up reports.
func (k Keepalived) Up() bool { return k.Running && k.Responsive }

// Config is the rendered keepalived.conf.
type Config struct {
	Path       string            `json:"path"`
	Hash       string            `json:"hash,omitempty"` // sha256 of the installed file, hex, first 16 digits
	Loaded     bool              `json:"loaded"`
	LastReload time.Time         `json:"last_reload,omitzero"`
	LastResult string            `json:"last_result,omitempty"` // ok, failed, unchanged
	LastError  string            `json:"last_error,omitempty"`
	Reloads    map[string]uint64 `json:"reloads"` // by result
}

// Check is the health check the agent runs alongside keepalived.
type Check struct {
	Command         string    `json:"command"`
	IntervalSeconds float64   `json:"interval_seconds"`
	Ran             bool      `json:"ran"`
	OK              bool      `json:"ok"`
	Result          string    `json:"result,omitempty"`
	LastRun         time.Time `json:"last_run,omitzero"`
	DurationSeconds float64   `json:"duration_seconds"`
	Output          string    `json:"output,omitempty"`
	Timeouts        uint64    `json:"timeouts"`
}

// Rule is one managed multicast accept rule.
type Rule struct {
	Chain     string    `json:"chain"`
	Family    string    `json:"family"`
	Present   bool      `json:"present"`
	Error     string    `json:"error,omitempty"`
	CheckedAt time.Time `json:"checked_at,omitzero"`
}

// Instance is one vrrp_instance.
type Instance struct {
	Name      string `json:"name"`
	VRID      int    `json:"vrid"`
	Interface string `json:"interface"`
	Family    string `json:"family"`
	// State is the state keepalived last reported (INIT, BACKUP, MASTER,
	// FAULT); StateValue is what the metrics report: its number, or 0
	// whenever keepalived is not up, so no instance keeps claiming MASTER.
	State             string            `json:"state"`
	StateValue        int               `json:"state_value"`
	Priority          int               `json:"priority"`
	BasePriority      int               `json:"base_priority"`
	LastTransition    time.Time         `json:"last_transition,omitzero"`
	Reason            string            `json:"reason,omitempty"`
	VIPs              []VIP             `json:"vips"`
	Transitions       map[string]uint64 `json:"transitions"`
	RxLowerPriority   uint64            `json:"master_rx_lower_priority"`
	KeepalivedCounter *Counters         `json:"keepalived_counters,omitempty"`
}

// VIP is one virtual address and whether the kernel has it on the
// interface right now.
type VIP struct {
	Address string `json:"address"`
	Present bool   `json:"present"`
}

// Counters are keepalived's own per-instance statistics from its JSON dump;
// they restart from zero when keepalived restarts.
type Counters struct {
	AdvertsReceived     uint64 `json:"adverts_received"`
	AdvertsSent         uint64 `json:"adverts_sent"`
	PriorityZeroRecv    uint64 `json:"priority_zero_received"`
	PriorityZeroSent    uint64 `json:"priority_zero_sent"`
	PacketLengthErrors  uint64 `json:"packet_length_errors"`
	AdvertIntervalErr   uint64 `json:"advert_interval_errors"`
	IPTTLErrors         uint64 `json:"ip_ttl_errors"`
	InvalidTypeReceived uint64 `json:"invalid_type_received"`
	AddressListErrors   uint64 `json:"address_list_errors"`
	InvalidAuthType     uint64 `json:"invalid_auth_type"`
	AuthTypeMismatch    uint64 `json:"auth_type_mismatch"`
	AuthFailures        uint64 `json:"auth_failures"`
	// BecomeMaster and ReleaseMaster count the instance's transitions
	// into and out of MASTER as keepalived saw them.
	BecomeMaster  uint64 `json:"become_master"`
	ReleaseMaster uint64 `json:"release_master"`
}

// Values of Instance.StateValue (ipfailover_vrrp_state). They are
// keepalived's own numbers, which vrrpstate.State uses too and the common
// keepalived exporters export, so existing dashboards and alerts map over.
const (
	StateInit   = 0 // not running, stopped, unknown, or keepalived not up
	StateBackup = 1
	StateMaster = 2
	StateFault  = 3
)

// StateName is the name of a state_value: INIT, BACKUP, MASTER or FAULT,
// as keepalived names its numbers (vrrpstate.State).
func StateName(v int) string {
	return vrrpstate.State(v).String()
}
