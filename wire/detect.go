package wire

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Kind is the kind of a conflict on the segment.
type Kind string

// The conflict kinds. Collision, Mismatch and Firewall concern our own
// instances only; SplitBrain is reported for every VRID heard.
const (
	// Collision: another node advertises one of our VRIDs with a different
	// VIP list or authentication type. It is not one of our peers but a
	// different configuration that happens to use the same VRID; keepalived
	// rejects its adverts, so both sides may be master at once.
	Collision Kind = "collision"
	// SplitBrain: two or more sources advertise as master for the same
	// VRID and family at the same time (ours included), so each holds the
	// VIPs.
	SplitBrain Kind = "split_brain"
	// Mismatch: another node advertises one of our VRIDs with a different
	// advert interval or VRRP version: a peer with a diverging config
	// (keepalived drops its adverts or logs them).
	Mismatch Kind = "mismatch"
	// Firewall: other nodes' adverts for one of our instances are on the
	// wire, but keepalived's receive counter for it does not move: something
	// between the wire and keepalived (typically the host firewall) drops
	// them, and this node will claim master.
	Firewall Kind = "firewall"
)

// Kinds lists every kind, in the order metrics and reports use.
var Kinds = []Kind{Collision, SplitBrain, Mismatch, Firewall}

// Conflict is one problem found on a VRID and family.
type Conflict struct {
	Kind   Kind   `json:"kind"`
	VRID   uint8  `json:"vrid"`
	Family Family `json:"family"`
	// Instance is our instance on the VRID and family, or "" for a split
	// brain among other nodes.
	Instance string `json:"instance,omitempty"`
	// Sources are the advertisers involved, by address.
	Sources []netip.Addr `json:"sources,omitempty"`
	// Detail says what differs, for logs and status output.
	Detail string `json:"detail"`
}

// Key returns the conflict's VRID and family.
func (c Conflict) Key() Key { return Key{VRID: c.VRID, Family: c.Family} }

// String formats the conflict for a log line or a readiness reason.
func (c Conflict) String() string {
	name := ""
	if c.Instance != "" {
		name = " (" + c.Instance + ")"
	}
	return fmt.Sprintf("%s on VRID %s%s: %s", c.Kind, c.Key(), name, c.Detail)
}

// Detect returns the conflicts in s, ordered by family, VRID and kind. It
// is a pure function of the snapshot: the instances it checks against are
// s.Instances, and the firewall verdict is the one UpdateRx recorded in
// each group's Receive.
func Detect(s Snapshot) []Conflict {
	ours := map[Key]*Instance{}
	for i := range s.Instances {
		if _, dup := ours[s.Instances[i].Key()]; !dup {
			ours[s.Instances[i].Key()] = &s.Instances[i]
		}
	}
	var out []Conflict
	for i := range s.Groups {
		g := &s.Groups[i]
		in := ours[g.Key()]
		name := ""
		if in != nil {
			name = in.Name
			out = appendIf(out, collision(g, in))
		}
		out = appendIf(out, splitBrain(g, name))
		if in != nil {
			out = appendIf(out, mismatch(g, in))
			if g.Receive != nil && g.Receive.Stalled {
				out = append(out, Conflict{Kind: Firewall, VRID: g.VRID, Family: g.Family, Instance: name,
					Sources: foreignSources(g),
					Detail: fmt.Sprintf("%d adverts from other nodes on the wire while keepalived's receive counter stayed at %d; is VRRP dropped by the host firewall?",
						g.Receive.ForeignSinceMoved, g.Receive.Counter)})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Conflict) int {
		return cmp.Or(compareKeys(a.Key(), b.Key()), slices.Index(Kinds, a.Kind)-slices.Index(Kinds, b.Kind))
	})
	return out
}

func appendIf(cs []Conflict, c *Conflict) []Conflict {
	if c == nil {
		return cs
	}
	return append(cs, *c)
}

// collision finds foreign sources on our VRID whose VIP list or VRRPv2
// authentication type differs from ours.
func collision(g *Group, in *Instance) *Conflict {
	var srcs []netip.Addr
	var detail string
	for _, s := range g.Sources {
		if s.Ours {
			continue
		}
		vipsDiffer := !sameSet(s.VIPs, in.VIPs)
		// Authentication exists in VRRPv2 only; a version difference is a
		// mismatch of its own.
		authDiffers := s.Version == 2 && in.Version == 2 && s.AuthType != in.AuthType
		if !vipsDiffer && !authDiffers {
			continue
		}
		srcs = append(srcs, s.Addr)
		if detail != "" {
			continue
		}
		var parts []string
		if vipsDiffer {
			parts = append(parts, fmt.Sprintf("VIPs %s, ours %s", fmtAddrs(s.VIPs), fmtAddrs(in.VIPs)))
		}
		if authDiffers {
			parts = append(parts, fmt.Sprintf("auth type %d, ours %d", s.AuthType, in.AuthType))
		}
		detail = fmt.Sprintf("%s advertises %s", s.Addr, strings.Join(parts, "; "))
	}
	if srcs == nil {
		return nil
	}
	if len(srcs) > 1 {
		detail += fmt.Sprintf(" (and %d more)", len(srcs)-1)
	}
	return &Conflict{Kind: Collision, VRID: g.VRID, Family: g.Family, Instance: in.Name, Sources: srcs, Detail: detail}
}

// mismatch finds foreign sources on our VRID with another advert interval
// or VRRP version.
func mismatch(g *Group, in *Instance) *Conflict {
	var srcs []netip.Addr
	var detail string
	for _, s := range g.Sources {
		if s.Ours {
			continue
		}
		var parts []string
		if s.Version != in.Version {
			parts = append(parts, fmt.Sprintf("VRRP version %d, ours %d", s.Version, in.Version))
		} else if want := wireInterval(in.Interval, s.Version); s.Interval != want {
			parts = append(parts, fmt.Sprintf("advert interval %s, ours %s", s.Interval, want))
		}
		if parts == nil {
			continue
		}
		srcs = append(srcs, s.Addr)
		if detail == "" {
			detail = fmt.Sprintf("%s advertises %s", s.Addr, strings.Join(parts, "; "))
		}
	}
	if srcs == nil {
		return nil
	}
	if len(srcs) > 1 {
		detail += fmt.Sprintf(" (and %d more)", len(srcs)-1)
	}
	return &Conflict{Kind: Mismatch, VRID: g.VRID, Family: g.Family, Instance: in.Name, Sources: srcs, Detail: detail}
}

// wireInterval is the interval d as a packet of the given version carries
// it: whole seconds in VRRPv2, centiseconds in VRRPv3.
func wireInterval(d time.Duration, version uint8) time.Duration {
	if version == 2 {
		return d.Round(time.Second)
	}
	return d.Round(10 * time.Millisecond)
}

// splitBrain finds sources that advertised as master at the same time. Two
// sources count when their current runs of adverts overlap by at least one
// advert interval (the longer of theirs). Merely being in the table
// together is not enough: after a master crashes it stays until its expiry
// while its successor already advertises, and at a preemption the old
// master may send one last advert after the new one's first; neither is a
// split brain, and the overlap rule keeps both out. A real split brain
// crosses the threshold within one interval of the second master starting.
func splitBrain(g *Group, instance string) *Conflict {
	var masters []*Source
	for i := range g.Sources {
		if g.Sources[i].Master {
			masters = append(masters, &g.Sources[i])
		}
	}
	if len(masters) < 2 {
		return nil
	}
	involved := make([]bool, len(masters))
	n := 0
	for i, a := range masters {
		for j := i + 1; j < len(masters); j++ {
			b := masters[j]
			from := a.Since
			if b.Since.After(from) {
				from = b.Since
			}
			to := a.LastHeard
			if b.LastHeard.Before(to) {
				to = b.LastHeard
			}
			need := max(a.Interval, b.Interval, 10*time.Millisecond)
			if to.Sub(from) >= need {
				for _, k := range []int{i, j} {
					if !involved[k] {
						involved[k] = true
						n++
					}
				}
			}
		}
	}
	if n < 2 {
		return nil
	}
	var srcs []netip.Addr
	var desc []string
	for i, s := range masters {
		if !involved[i] {
			continue
		}
		srcs = append(srcs, s.Addr)
		d := fmt.Sprintf("%s (priority %d", s.Addr, s.Priority)
		if s.Ours {
			d += ", ours"
		}
		desc = append(desc, d+")")
	}
	return &Conflict{Kind: SplitBrain, VRID: g.VRID, Family: g.Family, Instance: instance, Sources: srcs,
		Detail: fmt.Sprintf("%d masters at once: %s", n, strings.Join(desc, ", "))}
}

func foreignSources(g *Group) []netip.Addr {
	var out []netip.Addr
	for _, s := range g.Sources {
		if !s.Ours {
			out = append(out, s.Addr)
		}
	}
	return out
}

// sameSet reports whether a and b hold the same addresses, ignoring order
// and repeats: keepalived may order the list differently from the config.
func sameSet(a, b []netip.Addr) bool {
	if slices.Equal(a, b) {
		return true
	}
	as, bs := slices.Clone(a), slices.Clone(b)
	slices.SortFunc(as, netip.Addr.Compare)
	slices.SortFunc(bs, netip.Addr.Compare)
	return slices.Equal(slices.Compact(as), slices.Compact(bs))
}

func fmtAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// Change is one change in the set of conflicts between two Tracker updates.
type Change struct {
	// Event is "raised" for a new conflict, "changed" when the sources
	// involved changed, "cleared" when it is gone.
	Event string `json:"event"`
	// Conflict is the conflict now, or as last seen when cleared.
	Conflict Conflict `json:"conflict"`
}

// The Change events.
const (
	Raised  = "raised"
	Changed = "changed"
	Cleared = "cleared"
)

// Tracker turns successive Detect results into changes, so that the agent
// logs each conflict once when it appears, when its sources change and when
// it clears, not on every detection. A conflict is identified by its kind,
// VRID and family. The zero value is ready; it is safe for concurrent use.
type Tracker struct {
	mu  sync.Mutex
	cur map[trackID]Conflict
}

type trackID struct {
	kind Kind
	key  Key
}

// Update takes the latest conflicts and returns what changed since the
// previous call, cleared ones first, then by family, VRID and kind.
func (t *Tracker) Update(cs []Conflict) []Change {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := make(map[trackID]Conflict, len(cs))
	var out []Change
	for _, c := range cs {
		id := trackID{c.Kind, c.Key()}
		if _, dup := next[id]; dup {
			continue
		}
		next[id] = c
		old, had := t.cur[id]
		switch {
		case !had:
			out = append(out, Change{Event: Raised, Conflict: c})
		case !slices.Equal(old.Sources, c.Sources):
			out = append(out, Change{Event: Changed, Conflict: c})
		}
	}
	for id, c := range t.cur {
		if _, ok := next[id]; !ok {
			out = append(out, Change{Event: Cleared, Conflict: c})
		}
	}
	t.cur = next
	slices.SortFunc(out, func(a, b Change) int {
		return cmp.Or(
			cmp.Compare(eventOrder(a.Event), eventOrder(b.Event)),
			compareKeys(a.Conflict.Key(), b.Conflict.Key()),
			slices.Index(Kinds, a.Conflict.Kind)-slices.Index(Kinds, b.Conflict.Kind))
	})
	return out
}

func eventOrder(e string) int {
	if e == Cleared {
		return 0
	}
	return 1
}
