package env

import "strings"

// ConflictPolicy is OPENSHIFT_HA_CONFLICT_POLICY (extension): what the
// agent does at start with an instance whose VRID another configuration on
// the segment already masters with a different VIP list.
type ConflictPolicy string

const (
	// ConflictRefuse holds such an instance back (it is left out of
	// keepalived.conf and /readyz fails with the reason) until the other
	// master is gone: starting it would make a second master of another
	// configuration's virtual router.
	ConflictRefuse ConflictPolicy = "refuse"
	// ConflictWarn starts every instance and only logs and reports the
	// conflict.
	ConflictWarn ConflictPolicy = "warn"
)

const varConflictPolicy = "OPENSHIFT_HA_CONFLICT_POLICY"

// parseConflictPolicy accepts refuse or warn, in any case and with
// surrounding blanks; "" is the default, refuse.
func parseConflictPolicy(s string) (ConflictPolicy, string) {
	switch p := ConflictPolicy(strings.ToLower(strings.TrimSpace(s))); p {
	case "":
		return ConflictRefuse, ""
	case ConflictRefuse, ConflictWarn:
		return p, ""
	}
	return "", "must be refuse (hold back an instance whose VRID another configuration masters) or warn (start it and only warn)"
}
