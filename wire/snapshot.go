package wire

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"
)

// Snapshot is the whole segment at one instant: every VRID and family heard
// (other clusters' and other products' too) and every instance of ours,
// with the conflicts found in it. It is plain data and round-trips through
// encoding/json, for a status command that reads it from the agent.
type Snapshot struct {
	Taken time.Time `json:"taken"`
	// Since is when the table started listening: a snapshot taken less
	// than ListenWindow after it may not have heard every master yet.
	Since      time.Time    `json:"listening_since"`
	Interface  string       `json:"interface,omitempty"`
	LocalAddrs []netip.Addr `json:"local_addrs,omitempty"`
	// Peers are the other nodes of this configuration, when known.
	Peers     []netip.Addr `json:"peers,omitempty"`
	Instances []Instance   `json:"instances,omitempty"`
	// Groups are ordered by family, then VRID.
	Groups    []Group    `json:"groups"`
	Conflicts []Conflict `json:"conflicts,omitempty"`
}

// Group returns the group for k, or nil.
func (s Snapshot) Group(k Key) *Group {
	for i := range s.Groups {
		if s.Groups[i].Key() == k {
			return &s.Groups[i]
		}
	}
	return nil
}

// Group is one VRID and family on the segment.
type Group struct {
	VRID   uint8  `json:"vrid"`
	Family Family `json:"family"`
	// Ours is true when this node runs an instance on the VRID and family;
	// Instance is its name.
	Ours     bool   `json:"ours"`
	Instance string `json:"instance,omitempty"`
	// Master is the source VRRP would call master now, or nil when no
	// source advertises with a non-zero priority. See Masters for how many
	// claim it.
	Master *Source `json:"master,omitempty"`
	// Masters is the number of distinct sources heard advertising with a
	// non-zero priority within their expiry: 1 on a healthy segment,
	// briefly 2 during a failover, 2 or more for long in a split brain.
	Masters int `json:"masters"`
	// Adverts counts every advert observed since the table started;
	// ForeignAdverts those from sources that are not ours.
	Adverts        uint64 `json:"adverts"`
	ForeignAdverts uint64 `json:"foreign_adverts"`
	// Receive compares keepalived's receive counter with the wire; nil
	// unless the agent passes counters for the VRID (UpdateRx).
	Receive *Receive `json:"receive,omitempty"`
	// Sources are every source heard and not expired, by address.
	Sources []Source `json:"sources"`
}

// Key returns the group's VRID and family.
func (g *Group) Key() Key { return Key{VRID: g.VRID, Family: g.Family} }

// Receive is keepalived's receive counter for one of our instances, against
// the adverts from other nodes seen on the wire.
type Receive struct {
	Counter uint64 `json:"counter"` // as last passed to UpdateRx
	// ForeignSinceMoved is how many adverts from other nodes the wire
	// showed between the last call that saw the counter move and the last
	// call.
	ForeignSinceMoved uint64 `json:"foreign_adverts_since_moved"`
	// Stalled is ForeignSinceMoved >= FirewallAdverts: keepalived receives
	// nothing while others advertise.
	Stalled bool `json:"stalled"`
}

// Source is one advertiser (source address) on a VRID and family, with what
// its latest advert said.
type Source struct {
	Addr netip.Addr `json:"addr"`
	// Ours is true for this node's own adverts: seen leaving the host, or
	// from one of the addresses given in Local.
	Ours     bool          `json:"ours"`
	Priority uint8         `json:"priority"`
	Interval time.Duration `json:"-"` // in JSON as "interval": "1s"
	Version  uint8         `json:"version"`
	AuthType uint8         `json:"auth_type"`
	VIPs     []netip.Addr  `json:"vips"`
	TTL      uint8         `json:"ttl"`
	// ChecksumOK is false when the latest advert's checksum did not
	// verify; receivers drop such adverts.
	ChecksumOK bool      `json:"checksum_ok"`
	FirstHeard time.Time `json:"first_heard"`
	LastHeard  time.Time `json:"last_heard"`
	// Since is when the current run of adverts began: the first advert
	// after the source was new, silent for its expiry, or at priority 0.
	Since   time.Time `json:"advertising_since"`
	Packets uint64    `json:"packets"`
	// Master is true when the latest advert had a non-zero priority: in
	// VRRP only a master advertises, and a master that steps down sends
	// priority 0.
	Master bool `json:"master"`
}

// The JSON forms of Source and Instance spell the interval as a Go duration
// ("1s", "100ms") rather than nanoseconds, for people reading status output.

type sourceJSON struct {
	plainSource
	Interval string `json:"interval"`
}

type plainSource Source

// MarshalJSON encodes the source with its interval as a duration string.
func (s Source) MarshalJSON() ([]byte, error) {
	return json.Marshal(sourceJSON{plainSource(s), s.Interval.String()})
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (s *Source) UnmarshalJSON(b []byte) error {
	var v sourceJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	d, err := parseInterval(v.Interval)
	if err != nil {
		return err
	}
	*s = Source(v.plainSource)
	s.Interval = d
	return nil
}

type instanceJSON struct {
	plainInstance
	Interval string `json:"interval"`
}

type plainInstance Instance

// MarshalJSON encodes the instance with its interval as a duration string.
func (in Instance) MarshalJSON() ([]byte, error) {
	return json.Marshal(instanceJSON{plainInstance(in), in.Interval.String()})
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (in *Instance) UnmarshalJSON(b []byte) error {
	var v instanceJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	d, err := parseInterval(v.Interval)
	if err != nil {
		return err
	}
	*in = Instance(v.plainInstance)
	in.Interval = d
	return nil
}

func parseInterval(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("interval: %w", err)
	}
	return d, nil
}
