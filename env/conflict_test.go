package env

import (
	"strings"
	"testing"
)

func TestConflictPolicy(t *testing.T) {
	for _, c := range []struct {
		value string
		want  ConflictPolicy
	}{
		{"", ConflictRefuse},
		{"refuse", ConflictRefuse},
		{" Warn ", ConflictWarn},
		{"WARN", ConflictWarn},
	} {
		cfg, w := mustLoad(t, testVIPs, "OPENSHIFT_HA_CONFLICT_POLICY="+c.value)
		if cfg.ConflictPolicy != c.want || len(w) != 0 {
			t.Errorf("%q: policy %q, warnings %v; want %q", c.value, cfg.ConflictPolicy, w, c.want)
		}
	}
	if cfg, _ := mustLoad(t, testVIPs); cfg.ConflictPolicy != ConflictRefuse {
		t.Errorf("unset: policy %q, want refuse", cfg.ConflictPolicy)
	}
	for _, bad := range []string{"ignore", "refuse,warn", "0"} {
		ps := problems(t, testVIPs, "OPENSHIFT_HA_CONFLICT_POLICY="+bad)
		if len(ps) != 1 || ps[0].Variable != "OPENSHIFT_HA_CONFLICT_POLICY" || ps[0].Value != bad || !strings.Contains(ps[0].Reason, "refuse") {
			t.Errorf("%q: problems %v, want one naming the variable and the accepted values", bad, ps)
		}
	}
}
