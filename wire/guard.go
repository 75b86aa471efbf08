package wire

import (
	"fmt"
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
// not have been heard yet), nor when a foreign source is master of its VRID
// and family with a different VIP list: starting would make a second
// master of another configuration's virtual router, or add our VIPs to a
// router that carries others. A foreign master with the same VIP list is a
// peer of ours (another node of this deployment) and does not block.
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
		var blocking, peers []string
		if g := s.Group(in.Key()); g != nil {
			for _, src := range g.Sources {
				if src.Ours || !src.Master {
					continue
				}
				if sameSet(src.VIPs, in.VIPs) {
					peers = append(peers, src.Addr.String())
					continue
				}
				blocking = append(blocking, fmt.Sprintf("%s (priority %d) advertises %s", src.Addr, src.Priority, fmtAddrs(src.VIPs)))
			}
		}
		switch {
		case blocking != nil:
			v.Reason = prefix + fmt.Sprintf("mastered by another configuration: %s, ours %s",
				strings.Join(blocking, ", "), fmtAddrs(in.VIPs))
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
