// Package env owns the agent's configuration contract: it reads the
// OPENSHIFT_HA_* (and legacy un-prefixed) environment variables, expands the
// VIP list, splits it into VRRP groups with their VRIDs, and validates
// everything, so that later steps only ever see a consistent Config.
package env

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Family is an IP address family as the kernel and keepalived see it.
type Family int

// Address families. The values are the IP version numbers so that they print
// naturally in logs and metrics labels.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// String returns "ipv4" or "ipv6".
func (f Family) String() string {
	if f == IPv6 {
		return "ipv6"
	}
	return "ipv4"
}

// FamilyOf returns the family of a.
func FamilyOf(a netip.Addr) Family {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}

// VIP is one virtual address with the prefix length it gets on the interface.
// Without an explicit "/N" in the input the prefix is the full host length
// (32 or 128), which is also keepalived's default.
type VIP struct {
	Prefix netip.Prefix // address (not masked) and its on-link prefix length
}

// Addr is the VIP's address.
func (v VIP) Addr() netip.Addr { return v.Prefix.Addr() }

// Family is the VIP's address family.
func (v VIP) Family() Family { return FamilyOf(v.Prefix.Addr()) }

// String is the canonical "address/len" form used in keepalived.conf and for
// `ip addr del`.
func (v VIP) String() string { return v.Prefix.String() }

// Group is one VRRP group: a contiguous run of the listed VIPs that always
// moves between nodes as a unit. It may mix address families; keepalived
// then runs one instance per family with the group's VRID (see SplitGroups).
type Group struct {
	Index int // 1-based position among all groups
	VRID  int // virtual_router_id, 1..255
	VIPs  []VIP
}

// Families returns the families of the group's VIPs in the order they first
// appear: the first is the family the original image's instance served.
func (g Group) Families() []Family {
	var out []Family
	for _, v := range g.VIPs {
		if !slices.Contains(out, v.Family()) {
			out = append(out, v.Family())
		}
	}
	return out
}

// Of returns the group's VIPs of family f, in listed order.
func (g Group) Of(f Family) []VIP {
	var out []VIP
	for _, v := range g.VIPs {
		if v.Family() == f {
			out = append(out, v)
		}
	}
	return out
}

// Preemption is the parsed OPENSHIFT_HA_PREEMPTION.
type Preemption struct {
	NoPreempt bool // "nopreempt"
	Delay     int  // seconds for "preempt_delay N" / "preempt N"; 0 preempts at once
}

// String renders the keepalived keyword form ("nopreempt" or "preempt_delay N").
func (p Preemption) String() string {
	if p.NoPreempt {
		return "nopreempt"
	}
	return fmt.Sprintf("preempt_delay %d", p.Delay)
}

// Config is the validated configuration of one agent. Every field has been
// checked: strings that reach keepalived.conf contain no quote, brace,
// backslash, '#', '!' or control character.
type Config struct {
	Name      string  // OPENSHIFT_HA_CONFIG_NAME
	VIPs      []VIP   // OPENSHIFT_HA_VIRTUAL_IPS, expanded, input order
	VIPGroups int     // OPENSHIFT_HA_VIP_GROUPS as given (0: one VIP per group)
	Groups    []Group // derived from VIPs, VIPGroups, VRIDOffset, ExcludedVRIDs

	Interface string // OPENSHIFT_HA_NETWORK_INTERFACE; "" means the default route's interface

	MonitorPort   int           // OPENSHIFT_HA_MONITOR_PORT; 0 disables the default check
	CheckScript   string        // OPENSHIFT_HA_CHECK_SCRIPT: absolute path and arguments (single spaces), or ""
	CheckInterval time.Duration // OPENSHIFT_HA_CHECK_INTERVAL (whole seconds)
	NotifyScript  string        // OPENSHIFT_HA_NOTIFY_SCRIPT: absolute path and arguments (single spaces), or ""

	ReplicaCount  int   // OPENSHIFT_HA_REPLICA_COUNT
	VRIDOffset    int   // OPENSHIFT_HA_VRRP_ID_OFFSET
	ExcludedVRIDs []int // HA_EXCLUDED_VRRP_IDS / OPENSHIFT_HA_EXCLUDED_VRRP_IDS

	// IPTablesChain is the filter-table chain that gets the VRRP multicast
	// accept rule; "" means no rule is managed.
	IPTablesChain string

	Preemption Preemption // OPENSHIFT_HA_PREEMPTION

	UnicastPeers []netip.Addr // OPENSHIFT_HA_UNICAST_PEERS as given (this node's address is removed at render time)
	UseUnicast   bool         // OPENSHIFT_HA_USE_UNICAST
	Selector     string       // OPENSHIFT_HA_SELECTOR (informational only)

	AdminEmails []string // OPENSHIFT_HA_ADMIN_EMAILS
	SMTPServer  string   // OPENSHIFT_HA_SMTP_SERVER

	MulticastSource netip.Addr // MULTICAST_SOURCE_IPADDRESS; invalid (zero) when unset
	UnicastSource   netip.Addr // UNICAST_SOURCE_IPADDRESS; invalid (zero) when unset

	KeepalivedConfig   string   // KEEPALIVED_CONFIG: where keepalived.conf is written
	KeepalivedOptions  []string // KEEPALIVED_OPTIONS, split on white space
	KeepalivedTemplate string   // OPENSHIFT_HA_KEEPALIVED_TEMPLATE (extension) or "" for the embedded one

	// AdvertInterval is OPENSHIFT_HA_ADVERT_INTERVAL (extension): whole
	// seconds keep VRRPv2, fractions switch IPv4 instances to VRRPv3.
	AdvertInterval time.Duration

	// LogFormat and LogLevel are OPENSHIFT_HA_LOG_FORMAT ("text" or
	// "json") and OPENSHIFT_HA_LOG_LEVEL ("debug", "info", "warn" or
	// "error"), extensions. The command line reads them before the rest
	// (package internal/logging); they are here so they are validated and
	// documented with every other variable.
	LogFormat, LogLevel string

	// MetricsAddress is OPENSHIFT_HA_METRICS_ADDRESS (extension): the
	// listen address of the metrics/health/status server; "" disables it.
	MetricsAddress string

	// AuthPasswordFile is OPENSHIFT_HA_AUTH_PASSWORD_FILE (extension): an
	// absolute path whose content replaces the name-derived VRRP password,
	// or "". Only the path is validated; render.ReadAuthPassword reads it.
	AuthPasswordFile string

	// ConflictPolicy is OPENSHIFT_HA_CONFLICT_POLICY (extension): whether
	// an instance whose VRID another configuration masters is held back
	// (refuse, the default) or started with a warning.
	ConflictPolicy ConflictPolicy

	// Kubernetes is OPENSHIFT_HA_KUBERNETES (extension): "auto" (use the
	// Kubernetes API when running in a pod with in-cluster credentials)
	// or "off".
	Kubernetes string

	// PeerSelector is OPENSHIFT_HA_PEER_SELECTOR (extension): a label
	// selector (checked with labels.Parse) picking the pods whose host IPs
	// are the peers instead of the owning workload's selector; "" means
	// the owner's.
	PeerSelector string
}

// Unicast reports whether the instances use unicast adverts: as in the
// original image, whenever peers are listed (OPENSHIFT_HA_USE_UNICAST alone
// does not switch it on; Load warns about that).
func (c Config) Unicast() bool { return len(c.UnicastPeers) > 0 }

// ScriptProgram is the program of a script command line (its first word),
// the file that must exist and be executable on the node.
func ScriptProgram(line string) string {
	p, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	return p
}

// Families returns the address families present among the VIPs, IPv4 first.
func (c Config) Families() []Family {
	var has4, has6 bool
	for _, v := range c.VIPs {
		if v.Family() == IPv4 {
			has4 = true
		} else {
			has6 = true
		}
	}
	var out []Family
	if has4 {
		out = append(out, IPv4)
	}
	if has6 {
		out = append(out, IPv6)
	}
	return out
}

// Problem is one reason why the environment is invalid.
type Problem struct {
	Variable string // the environment variable at fault
	Value    string // the offending value or token (quoted when printed)
	Reason   string // what is wrong and what is accepted
}

func (p Problem) String() string {
	return fmt.Sprintf("%s=%q: %s", p.Variable, p.Value, p.Reason)
}

// InvalidError lists every problem found in the environment. Callers map it
// to exit code 2.
type InvalidError struct {
	Problems []Problem
}

func (e *InvalidError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "invalid configuration:\n" + strings.Join(lines, "\n")
}

// Warning is a non-fatal remark about the environment, such as an unknown
// OPENSHIFT_HA_* variable.
type Warning struct {
	Variable string
	Message  string
}

func (w Warning) String() string { return w.Variable + ": " + w.Message }
