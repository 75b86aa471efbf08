package wire

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Verdict says whether one of our instances may start.
type Verdict struct {
	Instance string `json:"instance"`
	VRID     uint8  `json:"vrid"`
	Family   Family `json:"family"`
	Start    bool   `json:"start"`
	// Reason explains the verdict in one line, fit for /readyz.
	Reason string `json:"reason"`
}

// Key returns the verdict's VRID and family.
func (v Verdict) Key() Key { return Key{VRID: v.VRID, Family: v.Family} }

// Guard is the rollout guard: for each of our instances (s.Instances) it
// says whether keepalived may start it. It may not while the table has
// listened for less than the instance's Expiry (a master that is alive may
// not have been heard yet), nor when another configuration masters its VRID
// and family: a foreign source advertising as master a VIP list that shares
// no address with ours, from an address that is not one of our peers
// (s.Peers). Starting then would make a second master of the other
// configuration's virtual router.
//
// A foreign master with the same VIP list is a peer of ours (another node
// of this deployment) and does not block. Nor does one that is a known peer
// or shares a VIP with ours but advertises a different list: that is this
// configuration in another version, in the middle of a rolling update that
// changes the VIP list; holding the new version back would stall the
// rollout, since the new pod would never become ready. Detect still
// reports it as a collision, which it is on the wire until the rollout
// ends.
func Guard(s Snapshot) []Verdict {
	listened := s.Taken.Sub(s.Since)
	out := make([]Verdict, 0, len(s.Instances))
	for i := range s.Instances {
		in := &s.Instances[i]
		v := Verdict{Instance: in.Name, VRID: in.VRID, Family: in.Family}
		prefix := fmt.Sprintf("VRID %s (%s): ", in.Key(), in.Name)
		if need := Expiry(in.Interval); listened < need {
			v.Reason = prefix + fmt.Sprintf("listened to the segment for %s of %s; a live master may not have been heard yet",
				listened.Round(10*time.Millisecond), need)
			out = append(out, v)
			continue
		}
		var blocking, peers, versions []string
		if g := s.Group(in.Key()); g != nil {
			for _, src := range g.Sources {
				if src.Ours || !src.Master {
					continue
				}
				if sameSet(src.VIPs, in.VIPs) {
					peers = append(peers, src.Addr.String())
					continue
				}
				desc := fmt.Sprintf("%s (priority %d) advertises %s", src.Addr, src.Priority, fmtAddrs(src.VIPs))
				if slices.Contains(s.Peers, src.Addr) || overlaps(src.VIPs, in.VIPs) {
					versions = append(versions, desc)
					continue
				}
				blocking = append(blocking, desc)
			}
		}
		switch {
		case blocking != nil:
			v.Reason = prefix + fmt.Sprintf("mastered by another configuration: %s, ours %s",
				strings.Join(blocking, ", "), fmtAddrs(in.VIPs))
		case versions != nil:
			v.Start = true
			v.Reason = prefix + fmt.Sprintf("master %s, ours %s: a peer or shared VIPs, taken for this configuration in another version (a rollout)",
				strings.Join(versions, ", "), fmtAddrs(in.VIPs))
		case peers != nil:
			v.Start = true
			v.Reason = prefix + "master " + strings.Join(peers, ", ") + " advertises our VIPs"
		default:
			v.Start = true
			v.Reason = prefix + "no foreign master"
		}
		out = append(out, v)
	}
	return out
}

// Blocked returns the reasons of the verdicts that do not allow a start;
// empty means every instance may start.
func Blocked(vs []Verdict) []string {
	var out []string
	for _, v := range vs {
		if !v.Start {
			out = append(out, v.Reason)
		}
	}
	return out
}

// overlaps reports whether a and b share an address.
func overlaps(a, b []netip.Addr) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}
