package wire

import (
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Instance is one VRRP instance this node runs, as the agent configured
// keepalived: what the node's own adverts carry, and what a foreign
// advertiser on the same VRID must match to be a peer rather than a
// collision.
type Instance struct {
	Name   string `json:"name"` // keepalived's vrrp_instance name, for reports
	VRID   uint8  `json:"vrid"`
	Family Family `json:"family"`
	// VIPs are the addresses keepalived puts in the advert (its
	// virtual_ipaddress block, not virtual_ipaddress_excluded). Order does
	// not matter.
	VIPs     []netip.Addr  `json:"vips"`
	Interval time.Duration `json:"-"`         // advert_int; in JSON as "interval": "1s"
	Version  uint8         `json:"version"`   // vrrp_version, 2 or 3
	AuthType uint8         `json:"auth_type"` // 0 none, 1 PASS; VRRPv2 only
}

// Key returns the virtual router the instance runs.
func (in Instance) Key() Key { return Key{VRID: in.VRID, Family: in.Family} }

// Expiry is how long a source stays in the table after its last advert:
// three advert intervals plus one second. Three intervals is when VRRP's own
// backups give up on a master (master down interval, RFC 5798 6.1); the
// second covers the skew time and scheduling jitter.
func Expiry(interval time.Duration) time.Duration { return 3*interval + time.Second }

// ListenWindow is how long to listen before trusting the table for the
// given instances: the longest Expiry among them, so every master that is
// alive has advertised at least three times.
func ListenWindow(instances []Instance) time.Duration {
	w := Expiry(0)
	for _, in := range instances {
		w = max(w, Expiry(in.Interval))
	}
	return w
}

// Limits bound the table's memory whatever arrives on the wire: anyone on
// the segment can send adverts from arbitrary source addresses. Keys are
// bounded by the protocol (255 VRIDs, two families).
type Limits struct {
	// SourcesPerKey is the most sources kept per VRID and family.
	SourcesPerKey int
	// Sources is the most sources kept in total.
	Sources int
}

// DefaultLimits are the limits NewTable uses for zero fields: 64 sources per
// VRID and family (a real segment has one master and the occasional
// contender) and 2048 in all, so a flood of spoofed sources costs a few MiB at
// most (an advert may carry 255 IPv6 addresses).
var DefaultLimits = Limits{SourcesPerKey: 64, Sources: 2048}

// FirewallAdverts is how many adverts from other nodes for one of our
// instances must be seen on the wire, while keepalived's receive counter for
// that instance did not move, before the table reports the receive path as
// stalled. More than one, so that an advert that arrived between the agent
// reading keepalived's counters and calling UpdateRx is not taken for loss.
const FirewallAdverts = 3

// Local is what the agent tells the table about this node.
type Local struct {
	// Interface is the interface listened on; the snapshot repeats it.
	Interface string
	// Addrs are this node's addresses on the segment. Adverts from them are
	// ours even when they are not seen leaving (unicast_src_ip, a copy
	// looped back).
	Addrs []netip.Addr
	// Instances are the VRRP instances this node runs.
	Instances []Instance
	// Peers are the addresses of the other nodes of this configuration
	// when known (unicast peers, or the node set from the Kubernetes API).
	// A master among them that advertises other VIPs is this configuration
	// in another version, mid-rollout, not another configuration (Guard).
	Peers []netip.Addr
}

// Table is the live view of VRRP on one segment: for every VRID and family,
// every source heard advertising, with what it advertised. Sources expire
// Expiry(interval) after their last advert. It is safe for concurrent use;
// expiry happens on Observe and Snapshot, so it needs no goroutine.
type Table struct {
	mu     sync.Mutex
	now    func() time.Time
	lim    Limits
	since  time.Time
	local  Local
	mine   map[netip.Addr]bool
	groups map[Key]*group
	n      int   // sources in all groups
	lru    entry // sentinel of the list of sources, most recently heard first
}

// group is one VRID and family.
type group struct {
	sources map[netip.Addr]*entry
	adverts uint64 // every advert ever observed, for the counter metric
	foreign uint64 // adverts from sources that are not ours
	rx      *rxState
}

// rxState follows keepalived's receive counter for one of our instances.
type rxState struct {
	counter uint64 // as last passed to UpdateRx
	base    uint64 // group.foreign when the counter last moved
	atCheck uint64 // group.foreign at the last UpdateRx
	stalled bool
}

// entry is one source in a group, linked into the table's LRU list.
type entry struct {
	key        Key
	src        Source
	outgoing   bool // once seen leaving this host, always ours
	prev, next *entry
}

// NewTable returns an empty table that reads the time from now (nil means
// time.Now) and keeps within lim (zero fields mean DefaultLimits). The
// table's listen window starts now.
func NewTable(now func() time.Time, lim Limits) *Table {
	if now == nil {
		now = time.Now
	}
	if lim.SourcesPerKey <= 0 {
		lim.SourcesPerKey = DefaultLimits.SourcesPerKey
	}
	if lim.Sources <= 0 {
		lim.Sources = DefaultLimits.Sources
	}
	t := &Table{now: now, lim: lim, since: now(), mine: map[netip.Addr]bool{}, groups: map[Key]*group{}}
	t.lru.next, t.lru.prev = &t.lru, &t.lru
	return t
}

// SetLocal tells the table this node's interface, addresses and instances,
// replacing what it was told before. Sources already in the table are
// re-marked as ours or not.
func (t *Table) SetLocal(l Local) {
	l.Addrs = slices.Clone(l.Addrs)
	l.Peers = slices.Clone(l.Peers)
	l.Instances = slices.Clone(l.Instances)
	for i := range l.Instances {
		l.Instances[i].VIPs = slices.Clone(l.Instances[i].VIPs)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.local = l
	clear(t.mine)
	for _, a := range l.Addrs {
		t.mine[a.Unmap().WithZone("")] = true
	}
	for e := t.lru.next; e != &t.lru; e = e.next {
		e.src.Ours = e.outgoing || t.mine[e.src.Addr]
	}
}

// Observe records one advert heard at now(). The table copies what it
// keeps, so a may be reused for the next packet. Adverts with an invalid
// key or source (which DecodeIP never returns) are ignored.
func (t *Table) Observe(a *Advert) {
	k := a.Key()
	if !k.valid() || !a.Src.IsValid() {
		return
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.group(k)
	g.adverts++
	e := g.sources[a.Src]
	if e == nil {
		t.makeRoom(g)
		e = &entry{key: k, src: Source{Addr: a.Src, FirstHeard: now, Since: now}}
		g.sources[a.Src] = e
		t.n++
	} else {
		// A new run of adverts starts after a priority 0 (the sender
		// stepped down) or a silence long enough that the sender was gone.
		if e.src.Priority == 0 || now.Sub(e.src.LastHeard) > Expiry(e.src.Interval) {
			e.src.Since = now
		}
		t.unlink(e)
	}
	t.pushFront(e)
	e.outgoing = e.outgoing || a.Outgoing
	e.src.Ours = e.outgoing || t.mine[a.Src]
	if !e.src.Ours {
		g.foreign++
	}
	s := &e.src
	s.Priority, s.Interval, s.Version, s.AuthType = a.Priority, a.Interval, a.Version, a.AuthType
	s.TTL, s.ChecksumOK, s.LastHeard = a.TTL, a.ChecksumOK, now
	s.Packets++
	if !slices.Equal(s.VIPs, a.VIPs) {
		// Only a changed list allocates: steady adverts cost nothing.
		s.VIPs = slices.Clone(a.VIPs)
	}
	// Expire a little on every advert so a busy table stays small without
	// a sweep; Snapshot sweeps fully.
	t.expireOldest(now, 2)
}

// UpdateRx passes keepalived's receive counter per instance: a counter that
// moves whenever keepalived's socket receives an advert for the instance
// (keepalived's advert_rcvd plus its receive error counters, so that adverts
// keepalived rejects count as received). Call it right after reading the
// counters, as often as they are read. An instance missing from rx is not
// judged. When the counter has not moved across calls while FirewallAdverts
// or more adverts from other nodes for that VRID and family were seen on the
// wire, the instance's receive path is stalled: typically a host firewall
// drops VRRP below keepalived.
func (t *Table) UpdateRx(rx map[Key]uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, g := range t.groups {
		if _, ok := rx[k]; !ok {
			g.rx = nil
		}
	}
	for k, v := range rx {
		if !k.valid() {
			continue
		}
		g := t.group(k)
		switch {
		case g.rx == nil:
			g.rx = &rxState{counter: v, base: g.foreign, atCheck: g.foreign}
		case v != g.rx.counter:
			// Moved, or went back after a keepalived restart: either way a
			// fresh start.
			*g.rx = rxState{counter: v, base: g.foreign, atCheck: g.foreign}
		default:
			g.rx.atCheck = g.foreign
			g.rx.stalled = g.foreign-g.rx.base >= FirewallAdverts
		}
	}
}

// Snapshot expires what is due and returns a copy of the whole table with
// its conflicts (see Detect).
func (t *Table) Snapshot() Snapshot {
	now := t.now()
	t.mu.Lock()
	t.expireAll(now)
	s := Snapshot{
		Taken:      now,
		Since:      t.since,
		Interface:  t.local.Interface,
		LocalAddrs: slices.Clone(t.local.Addrs),
		Peers:      slices.Clone(t.local.Peers),
		Instances:  slices.Clone(t.local.Instances),
	}
	for i := range s.Instances {
		s.Instances[i].VIPs = slices.Clone(s.Instances[i].VIPs)
	}
	ours := map[Key]string{}
	for _, in := range t.local.Instances {
		if _, dup := ours[in.Key()]; !dup {
			ours[in.Key()] = in.Name
		}
	}
	keys := make([]Key, 0, len(t.groups)+len(ours))
	for k := range t.groups {
		keys = append(keys, k)
	}
	for k := range ours {
		if t.groups[k] == nil {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compareKeys)
	for _, k := range keys {
		name, isOurs := ours[k]
		gv := Group{VRID: k.VRID, Family: k.Family, Ours: isOurs, Instance: name, Sources: []Source{}}
		if g := t.groups[k]; g != nil {
			gv.Adverts, gv.ForeignAdverts = g.adverts, g.foreign
			for _, e := range g.sources {
				src := e.src
				src.VIPs = slices.Clone(src.VIPs)
				src.Master = src.Priority != 0
				if src.Master {
					gv.Masters++
				}
				gv.Sources = append(gv.Sources, src)
			}
			if g.rx != nil {
				gv.Receive = &Receive{Counter: g.rx.counter, ForeignSinceMoved: g.rx.atCheck - g.rx.base, Stalled: g.rx.stalled}
			}
		}
		slices.SortFunc(gv.Sources, func(a, b Source) int { return a.Addr.Compare(b.Addr) })
		gv.Master = pickMaster(gv.Sources, now)
		s.Groups = append(s.Groups, gv)
	}
	t.mu.Unlock()
	s.Conflicts = Detect(s)
	return s
}

// pickMaster returns a copy of the source that is master: among those whose
// last advert had a non-zero priority, preferring ones heard within two
// intervals (so that a crashed master, still in the table until it expires,
// does not hide its successor), then the higher priority, then the higher
// address, which is how VRRP itself breaks ties.
func pickMaster(srcs []Source, now time.Time) *Source {
	var best *Source
	bestFresh := false
	for i := range srcs {
		s := &srcs[i]
		if !s.Master {
			continue
		}
		fresh := now.Sub(s.LastHeard) <= 2*s.Interval
		switch {
		case best == nil,
			fresh && !bestFresh,
			fresh == bestFresh && s.Priority > best.Priority,
			fresh == bestFresh && s.Priority == best.Priority && s.Addr.Compare(best.Addr) > 0:
			best, bestFresh = s, fresh
		}
	}
	if best == nil {
		return nil
	}
	c := *best
	c.VIPs = slices.Clone(c.VIPs)
	return &c
}

func compareKeys(a, b Key) int {
	if a.Family != b.Family {
		return int(a.Family) - int(b.Family)
	}
	return int(a.VRID) - int(b.VRID)
}

// group returns the group for k, creating it. Groups are never removed: at
// most 510 exist, and their advert counters must not go back.
func (t *Table) group(k Key) *group {
	g := t.groups[k]
	if g == nil {
		g = &group{sources: map[netip.Addr]*entry{}}
		t.groups[k] = g
	}
	return g
}

// makeRoom evicts a source when adding one to g would exceed a limit: the
// least recently heard one that is not ours, from g when g is full, else
// from the whole table. Our own sources go only when nothing else is left,
// so a flood of spoofed sources cannot hide this node's adverts.
func (t *Table) makeRoom(g *group) {
	if len(g.sources) >= t.lim.SourcesPerKey {
		var victim, anyOldest *entry
		for _, e := range g.sources {
			if anyOldest == nil || e.src.LastHeard.Before(anyOldest.src.LastHeard) {
				anyOldest = e
			}
			if !e.src.Ours && (victim == nil || e.src.LastHeard.Before(victim.src.LastHeard)) {
				victim = e
			}
		}
		if victim == nil {
			victim = anyOldest
		}
		t.remove(victim)
		return
	}
	if t.n < t.lim.Sources {
		return
	}
	for e := t.lru.prev; e != &t.lru; e = e.prev {
		if !e.src.Ours {
			t.remove(e)
			return
		}
	}
	t.remove(t.lru.prev)
}

// expireOldest removes up to n expired sources from the least recently
// heard end of the list.
func (t *Table) expireOldest(now time.Time, n int) {
	for range n {
		e := t.lru.prev
		if e == &t.lru || now.Sub(e.src.LastHeard) <= Expiry(e.src.Interval) {
			return
		}
		t.remove(e)
	}
}

// expireAll removes every expired source. The list is ordered by last
// heard, but expiry also depends on each source's interval, so all are
// checked.
func (t *Table) expireAll(now time.Time) {
	for e := t.lru.next; e != &t.lru; {
		next := e.next
		if now.Sub(e.src.LastHeard) > Expiry(e.src.Interval) {
			t.remove(e)
		}
		e = next
	}
}

func (t *Table) remove(e *entry) {
	t.unlink(e)
	delete(t.groups[e.key].sources, e.src.Addr)
	t.n--
}

func (t *Table) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (t *Table) pushFront(e *entry) {
	e.prev, e.next = &t.lru, t.lru.next
	t.lru.next.prev = e
	t.lru.next = e
}
