package env

import (
	"slices"
	"strings"

	"github.com/ipfailover/ipfailover/internal/cli"
)

// haPrefix marks the variables this agent owns; an unknown one is most
// likely a typo that would otherwise be silently ignored.
const haPrefix = "OPENSHIFT_HA_"

// unknownVariableWarnings warns about every variable in names that starts
// with OPENSHIFT_HA_ (in any case) but is not in known, suggesting the
// closest known name.
func unknownVariableWarnings(names, known []string) []Warning {
	var out []Warning
	for _, name := range names {
		upper := strings.ToUpper(name)
		if !strings.HasPrefix(upper, haPrefix) || slices.Contains(known, name) {
			continue
		}
		msg := "unknown variable, ignored"
		if slices.Contains(known, upper) {
			msg += "; variable names are case-sensitive: did you mean " + upper + "?"
		} else if s := closestName(strings.TrimPrefix(upper, haPrefix), known); s != "" {
			msg += "; did you mean " + s + "?"
		}
		out = append(out, Warning{Variable: name, Message: msg})
	}
	slices.SortFunc(out, func(a, b Warning) int { return strings.Compare(a.Variable, b.Variable) })
	return out
}

// closestName returns the known name whose distinctive part (without
// OPENSHIFT_HA_ or HA_) is nearest to suffix in edit distance, if it is
// near enough to be a plausible typo. Un-prefixed names such as
// KEEPALIVED_CONFIG compare whole, so OPENSHIFT_HA_KEEPALIVED_CONFIG
// suggests KEEPALIVED_CONFIG.
func closestName(suffix string, known []string) string {
	const maxLen = 64 // longer names are not typos of ours; keep the cost bounded
	if len(suffix) > maxLen {
		return ""
	}
	// Allow about one edit in three, and at least three edits.
	best, bestDist := "", max(3, len(suffix)/3)+1
	for _, k := range known {
		core := strings.TrimPrefix(strings.TrimPrefix(k, haPrefix), "HA_")
		if d := cli.Distance(suffix, core); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}
