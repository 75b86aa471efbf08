// Package render owns the second step of the flow: it turns a validated
// env.Config plus the facts of one host (interface, addresses) into a Plan
// (the typed VRRP instances, health check and notify wiring of this node),
// derives from it the data the keepalived.conf template is executed over,
// and executes that template. It changes nothing on the host.
package render

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/placement"
)

// Host holds the facts of the node a configuration is rendered for.
type Host struct {
	Interface string     // network interface carrying VRRP and the VIPs
	Addr4     netip.Addr // primary IPv4 address of Interface (invalid when absent)
	Addr6     netip.Addr // primary global IPv6 address of Interface (invalid when absent)
}

// Options are the inputs of a rendering that do not come from the
// environment.
type Options struct {
	// Version is stamped into the config's header comment.
	Version string
	// NotifyFIFO, when set, is the FIFO keepalived writes state changes to.
	NotifyFIFO string
	// CheckFile is the file the agent writes its health check result to
	// ("0" healthy, "1" failing) and keepalived tracks. Required when the
	// configuration has a health check.
	CheckFile string
	// AuthPassword, when set, is the VRRPv2 PASS password instead of the
	// one derived from the configuration name: the content of
	// OPENSHIFT_HA_AUTH_PASSWORD_FILE as ReadAuthPassword returns it. It
	// prints and encodes as "[redacted]".
	AuthPassword Secret
	// Nodes, when known (from the Kubernetes API), are the addresses of
	// every node that runs this configuration, this node's included, and
	// of nodes that left (so their groups go to their planned backups and
	// nothing else moves). Priorities then follow the exact placement
	// scheme in every mode (each node masters its share of the groups);
	// unicast peers are added to them.
	Nodes []netip.Addr
}

// Data is what the keepalived.conf template is executed over. A user template
// (OPENSHIFT_HA_KEEPALIVED_TEMPLATE) receives exactly this structure.
type Data struct {
	Version     string // ipfailover version
	Name        string // OPENSHIFT_HA_CONFIG_NAME as given
	RouterID    string // Name scrubbed to [A-Za-z0-9_]
	Interface   string // interface of every instance and VIP
	NodeAddress string // this node's primary address (IPv4 if it has one)

	AdminEmails        []string
	EmailFrom          string
	SMTPServer         string
	SMTPConnectTimeout int

	// GARPMasterRefresh is the period, in seconds, of gratuitous ARP/NA
	// sent by a master. It bounds how long a client keeps a stale
	// neighbour entry after a split brain heals (keepalived sends none when
	// the old master never left MASTER).
	GARPMasterRefresh int
	NotifyFIFO        string // vrrp_notify_fifo path, or ""

	// Check is the health check the agent runs; nil when there is none
	// (monitor port 0 and no script). keepalived does not run it: it
	// tracks CheckFile, which the agent rewrites after every run. That
	// keeps keepalived from running scripts at all (its script launcher
	// needs CAP_SETGID, and 2.2.7 overlaps runs that outlive the interval).
	Check     *Check
	CheckFile string
	// NotifyScript is rendered as keepalived's own notify only when no
	// FIFO is used; with a FIFO the agent runs it from the FIFO's events,
	// serially and in order, which keepalived's fire-and-forget notify does
	// not guarantee.
	NotifyScript string

	Instances []Instance
}

// Check is the health check behind the track_file every instance tracks.
type Check struct {
	Name     string // track_file name
	Command  string // the script line, split on white space by keepalived
	Interval int    // seconds between runs
	Timeout  int    // seconds before a run is killed and counted as a failure
	Fall     int    // consecutive failures before FAULT
	Rise     int    // consecutive successes before leaving FAULT
}

// Instance is one vrrp_instance: one VIP group.
type Instance struct {
	Name           string
	VRID           int
	Family         string // "ipv4" or "ipv6"
	Priority       int    // 1..254, from package placement
	Version        int    // VRRP version, 2 or 3
	AdvertInterval string // seconds, as keepalived reads it ("1", "0.1")
	Preemption     string // "nopreempt" or "preempt_delay N"
	AuthPass       string // VRRPv2 PASS authentication, or "" (none for VRRPv3)

	MulticastSource string   // mcast_src_ip, or ""
	UnicastSource   string   // unicast_src_ip, or "" for multicast
	UnicastPeers    []string // unicast_peer addresses (never this node's own)

	VIPs []string // "address/len"
}

// authPassLen is the number of auth_pass bytes keepalived keeps; anything
// longer is truncated with a config error, so only this prefix is rendered.
const authPassLen = 8

// Plan is what one node runs for a configuration: its VRRP instances with
// typed addresses, the health check and the notify wiring. The template data
// (Data) and the agent's runtime view of the instances are both built from
// it, so they cannot disagree and nothing is parsed back from the strings
// the template gets.
type Plan struct {
	Config  env.Config
	Host    Host
	Options Options
	// Check is the health check the agent runs; nil when there is none.
	Check *Check
	// NotifyScript is the script keepalived runs itself on state changes:
	// OPENSHIFT_HA_NOTIFY_SCRIPT without a FIFO, "" with one (the agent
	// runs it from the FIFO's events).
	NotifyScript string
	Instances    []PlanInstance
}

// PlanInstance is one vrrp_instance: one VIP group of one address family.
type PlanInstance struct {
	Name     string
	VRID     int
	Family   env.Family
	Priority int // 1..254, from package placement
	Version  int // VRRP version, 2 or 3
	VIPs     []netip.Prefix
	// MulticastSource is mcast_src_ip; invalid when unset.
	MulticastSource netip.Addr
	// UnicastSource is unicast_src_ip; invalid for multicast.
	UnicastSource netip.Addr
	// UnicastPeers are the other nodes' addresses (never this node's own).
	UnicastPeers []netip.Addr
}

// NewData builds the template data for cfg on host h; see NewPlan.
func NewData(cfg env.Config, h Host, o Options) (Data, error) {
	p, err := NewPlan(cfg, h, o)
	if err != nil {
		return Data{}, err
	}
	return p.Data(), nil
}

// NewPlan decides what cfg means on host h. An error of type
// *env.InvalidError means the combination of configuration and host is
// invalid (exit code 2), for example unicast with no peer left once this
// node's own addresses are removed.
func NewPlan(cfg env.Config, h Host, o Options) (Plan, error) {
	var problems []env.Problem
	if h.Interface == "" {
		return Plan{}, fmt.Errorf("no network interface given")
	}
	for _, f := range cfg.Families() {
		if !h.addr(f).IsValid() {
			return Plan{}, fmt.Errorf("interface %s has no %s address, needed for the %s VIPs", h.Interface, f, f)
		}
	}
	if o.AuthPassword != "" {
		if reason := checkAuthPassword(string(o.AuthPassword)); reason != "" {
			return Plan{}, fmt.Errorf("%s: %s", AuthPasswordVariable, reason)
		}
	}
	p := Plan{Config: cfg, Host: h, Options: o, Check: newCheck(cfg, h), NotifyScript: cfg.NotifyScript}
	if p.Check != nil && o.CheckFile == "" {
		return Plan{}, fmt.Errorf("no check status file given for the health check")
	}
	if o.NotifyFIFO != "" {
		p.NotifyScript = ""
	}

	_, version4 := advertInterval(cfg.AdvertInterval)

	// Unicast peers, per family, without this node's own addresses: every
	// node gets the same peer list from the shared environment.
	peers := map[env.Family][]netip.Addr{}
	nodes := map[env.Family][]netip.Addr{}
	if cfg.Unicast() {
		own := map[netip.Addr]bool{h.Addr4: true, h.Addr6: true, cfg.UnicastSource: true}
		for _, p := range cfg.UnicastPeers {
			f := env.FamilyOf(p)
			nodes[f] = append(nodes[f], p)
			if !own[p] {
				peers[f] = append(peers[f], p)
			}
		}
		for _, f := range cfg.Families() {
			if len(peers[f]) == 0 {
				problems = append(problems, env.Problem{
					Variable: "OPENSHIFT_HA_UNICAST_PEERS",
					Value:    joinAddrs(cfg.UnicastPeers),
					Reason: fmt.Sprintf("unicast needs at least one %s peer other than this node (%s); "+
						"list every node's %s address, or unset OPENSHIFT_HA_USE_UNICAST for multicast", f, h.addr(f), f),
				})
			}
			nodes[f] = append(nodes[f], h.addr(f))
		}
	}
	if len(problems) > 0 {
		return Plan{}, &env.InvalidError{Problems: problems}
	}
	if len(o.Nodes) > 0 {
		for _, a := range o.Nodes {
			f := env.FamilyOf(a)
			if !slices.Contains(nodes[f], a) {
				nodes[f] = append(nodes[f], a)
			}
		}
		for _, f := range cfg.Families() {
			if len(nodes[f]) > 0 && !slices.Contains(nodes[f], h.addr(f)) {
				nodes[f] = append(nodes[f], h.addr(f))
			}
		}
	}

	// One instance per group and family: a group that mixes families gets
	// a second instance with the same VRID (a separate election on the
	// wire), named after the first with the family appended, so the first
	// keeps the original image's name and VIPs.
	type slot struct {
		g env.Group
		f env.Family
	}
	var slots []slot
	count := map[env.Family]int{}
	for _, g := range cfg.Groups {
		for _, f := range g.Families() {
			slots = append(slots, slot{g, f})
			count[f]++
		}
	}
	prio := map[env.Family][]int{}
	for _, f := range cfg.Families() {
		prio[f] = placement.Priorities(h.addr(f), nodes[f], count[f], cfg.ReplicaCount)
	}

	routerID := Scrub(cfg.Name)
	seen := map[env.Family]int{}
	for _, sl := range slots {
		g, f := sl.g, sl.f
		name := fmt.Sprintf("%s_VIP_%d", routerID, g.Index)
		if f != g.Families()[0] {
			name += "_" + f.String()
		}
		in := PlanInstance{Name: name, VRID: g.VRID, Family: f, Priority: prio[f][seen[f]], Version: version4}
		seen[f]++
		if f == env.IPv6 {
			// keepalived runs IPv6 instances as VRRPv3, which has no
			// authentication.
			in.Version = 3
		}
		if cfg.MulticastSource.IsValid() && env.FamilyOf(cfg.MulticastSource) == f {
			in.MulticastSource = cfg.MulticastSource
		}
		if cfg.Unicast() {
			in.UnicastSource = h.addr(f)
			if cfg.UnicastSource.IsValid() && env.FamilyOf(cfg.UnicastSource) == f {
				in.UnicastSource = cfg.UnicastSource
			}
			in.UnicastPeers = peers[f]
		}
		for _, v := range g.Of(f) {
			in.VIPs = append(in.VIPs, v.Prefix)
		}
		p.Instances = append(p.Instances, in)
	}
	return p, nil
}

// Data is the template's view of the plan: every value as the string
// keepalived.conf spells it.
func (p Plan) Data() Data {
	cfg, h := p.Config, p.Host
	d := Data{
		Version:            p.Options.Version,
		Name:               cfg.Name,
		RouterID:           Scrub(cfg.Name),
		Interface:          h.Interface,
		NodeAddress:        h.nodeAddr().String(),
		AdminEmails:        cfg.AdminEmails,
		EmailFrom:          "ipfailover@openshift.local",
		SMTPServer:         cfg.SMTPServer,
		SMTPConnectTimeout: 30,
		GARPMasterRefresh:  5,
		NotifyFIFO:         p.Options.NotifyFIFO,
		NotifyScript:       p.NotifyScript,
		Check:              p.Check,
	}
	if d.Check != nil {
		d.CheckFile = p.Options.CheckFile
	}
	advert, _ := advertInterval(cfg.AdvertInterval)
	auth := authPass(cfg.Name)
	if p.Options.AuthPassword != "" {
		auth = string(p.Options.AuthPassword)
	}
	for _, pi := range p.Instances {
		in := Instance{
			Name:           pi.Name,
			VRID:           pi.VRID,
			Family:         pi.Family.String(),
			Priority:       pi.Priority,
			Version:        pi.Version,
			AdvertInterval: advert,
			Preemption:     cfg.Preemption.String(),
			AuthPass:       auth,
		}
		if in.Version == 3 {
			in.AuthPass = ""
		}
		if pi.MulticastSource.IsValid() {
			in.MulticastSource = pi.MulticastSource.String()
		}
		if pi.UnicastSource.IsValid() {
			in.UnicastSource = pi.UnicastSource.String()
		}
		for _, a := range pi.UnicastPeers {
			in.UnicastPeers = append(in.UnicastPeers, a.String())
		}
		for _, v := range pi.VIPs {
			in.VIPs = append(in.VIPs, v.String())
		}
		d.Instances = append(d.Instances, in)
	}
	return d
}

// nodeAddr is the node's primary address: IPv4 if it has one.
func (h Host) nodeAddr() netip.Addr {
	if h.Addr4.IsValid() {
		return h.Addr4
	}
	return h.Addr6
}

func (h Host) addr(f env.Family) netip.Addr {
	if f == env.IPv6 {
		return h.Addr6
	}
	return h.Addr4
}

// CheckProgram is the first word of the default TCP check's command line.
// The agent runs it as its own binary ("ipfailover check tcp ..."), wherever
// that is installed, so the rendered configuration names no path of the
// machine it was rendered on.
const CheckProgram = "ipfailover"

// newCheck returns the health check: the user's script, else a TCP connect to
// this node's IPv4 address (IPv6 only on an IPv6-only node, as the original
// image always checked the IPv4 address) on the monitor port, else nothing
// when the port is 0.
func newCheck(cfg env.Config, h Host) *Check {
	interval := int(cfg.CheckInterval / time.Second)
	if interval < 1 {
		interval = 1
	}
	// The original set no timeout, so keepalived's default applied: the
	// interval (vrrp_scheduler.c uses the timeout if set, else the
	// interval). The agent runs one check at a time, so a run that takes
	// the whole interval delays the next one rather than overlapping it.
	timeout := interval
	c := &Check{Name: "chk_" + Scrub(cfg.Name), Interval: interval, Timeout: timeout, Fall: 1, Rise: 1}
	node := h.nodeAddr()
	switch {
	case cfg.CheckScript != "":
		c.Command = cfg.CheckScript
	case cfg.MonitorPort != 0 && node.IsValid():
		// The TCP check gives up before the run's timeout so that a
		// black-holed port counts as a plain failure.
		c.Command = fmt.Sprintf("%s check tcp %s --timeout %s", CheckProgram,
			netip.AddrPortFrom(node, uint16(cfg.MonitorPort)), checkTimeout(timeout))
	default:
		return nil
	}
	return c
}

func checkTimeout(keepalivedTimeout int) string {
	d := time.Duration(keepalivedTimeout) * time.Second * 8 / 10
	return d.String()
}

// advertInterval formats the advert interval for keepalived and picks the
// VRRP version for IPv4 instances: VRRPv2 carries whole seconds only
// (keepalived rounds fractions), so a fractional interval needs VRRPv3.
func advertInterval(d time.Duration) (string, int) {
	if d <= 0 {
		d = time.Second
	}
	if d%time.Second == 0 {
		return strconv.Itoa(int(d / time.Second)), 2
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64), 3
}

// authPass is the VRRPv2 PASS secret the original image used: the
// configuration name as keepalived read it from "auth_pass NAME", that is
// its first word, of which keepalived keeps 8 bytes. Exactly that is
// rendered, so nodes of the original image still authenticate ours.
func authPass(name string) string {
	name, _, _ = strings.Cut(name, " ")
	if len(name) > authPassLen {
		return name[:authPassLen]
	}
	return name
}

// Scrub turns a configuration name into a keepalived identifier the way the
// original image did: keep letters, digits, '-' and '_', then turn '-' into
// '_'.
func Scrub(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		case r == '-':
			b.WriteByte('_')
		}
	}
	return b.String()
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}
