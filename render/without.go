package render

import "github.com/ipfailover/ipfailover/env"

// InstanceKey names one instance of a plan the way VRRP does on the wire:
// its VRID and address family (a group with both families runs two
// instances on one VRID).
type InstanceKey struct {
	VRID   int
	Family env.Family
}

// Key returns the instance's VRID and family.
func (in PlanInstance) Key() InstanceKey { return InstanceKey{VRID: in.VRID, Family: in.Family} }

// Without returns a copy of p without the instances in skip, for an agent
// that holds some instances back (the rollout guard: another configuration
// masters their VRID). Every other instance is left exactly as it was,
// priority included, so that keepalived.conf differs only by the missing
// vrrp_instance blocks and a reload keeps the remaining instances running
// undisturbed. p itself is not changed; with nothing to skip the copy renders
// the same bytes as p.
func (p Plan) Without(skip map[InstanceKey]bool) Plan {
	if len(skip) == 0 {
		return p
	}
	kept := make([]PlanInstance, 0, len(p.Instances))
	for _, in := range p.Instances {
		if !skip[in.Key()] {
			kept = append(kept, in)
		}
	}
	p.Instances = kept
	return p
}
