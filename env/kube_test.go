package env

import (
	"slices"
	"strings"
	"testing"
)

func TestLoadKubernetes(t *testing.T) {
	for _, tc := range []struct {
		env      []string
		mode     string
		selector string
	}{
		{nil, KubernetesAuto, ""},
		{[]string{"OPENSHIFT_HA_KUBERNETES="}, KubernetesAuto, ""},
		{[]string{"OPENSHIFT_HA_KUBERNETES= "}, KubernetesAuto, ""},
		{[]string{"OPENSHIFT_HA_KUBERNETES= Off "}, KubernetesOff, ""},
		{[]string{"OPENSHIFT_HA_KUBERNETES=AUTO"}, KubernetesAuto, ""},
		{[]string{"OPENSHIFT_HA_PEER_SELECTOR=app=ipf"}, KubernetesAuto, "app=ipf"},
		{[]string{"OPENSHIFT_HA_PEER_SELECTOR= app=ipf, tier in (edge,core),!canary "}, KubernetesAuto, "app=ipf, tier in (edge,core),!canary"},
		{[]string{"OPENSHIFT_HA_PEER_SELECTOR=  "}, KubernetesAuto, ""},
	} {
		c, w := mustLoad(t, append([]string{testVIPs}, tc.env...)...)
		if c.Kubernetes != tc.mode || c.PeerSelector != tc.selector {
			t.Errorf("%q: Kubernetes=%q PeerSelector=%q, want %q %q", tc.env, c.Kubernetes, c.PeerSelector, tc.mode, tc.selector)
		}
		if len(w) != 0 {
			t.Errorf("%q: warnings %v", tc.env, w)
		}
	}
}

func TestLoadKubernetesRejected(t *testing.T) {
	for _, tc := range []struct{ env, variable, reason string }{
		{"OPENSHIFT_HA_KUBERNETES=on", varKubernetes, "must be auto"},
		{"OPENSHIFT_HA_KUBERNETES=true", varKubernetes, "or off"},
		{"OPENSHIFT_HA_PEER_SELECTOR=app=x y", varPeerSelector, "label selector"},
		{"OPENSHIFT_HA_PEER_SELECTOR=app in (a", varPeerSelector, "label selector"},
		{"OPENSHIFT_HA_PEER_SELECTOR=-bad-=x", varPeerSelector, "label selector"},
	} {
		ps := problems(t, testVIPs, tc.env)
		if len(ps) != 1 || ps[0].Variable != tc.variable || !strings.Contains(ps[0].Reason, tc.reason) {
			t.Errorf("%q: problems %v, want one for %s containing %q", tc.env, ps, tc.variable, tc.reason)
		}
		// The message a user sees names the variable.
		if len(ps) == 1 && !strings.HasPrefix(ps[0].String(), tc.variable+"=") {
			t.Errorf("%q: %q does not name the variable", tc.env, ps[0])
		}
	}
}

func TestLoadPeerSelectorWhileOff(t *testing.T) {
	c, w := mustLoad(t, testVIPs, "OPENSHIFT_HA_KUBERNETES=off", "OPENSHIFT_HA_PEER_SELECTOR=app=ipf")
	if c.PeerSelector != "app=ipf" || c.Kubernetes != KubernetesOff {
		t.Errorf("got %q %q", c.Kubernetes, c.PeerSelector)
	}
	if len(w) != 1 || w[0].Variable != varPeerSelector || !strings.Contains(w[0].Message, "ignored") {
		t.Errorf("warnings %v, want one saying the selector is ignored", w)
	}
}

func TestKubernetesVariablesDocumented(t *testing.T) {
	vars := Variables()
	i := slices.IndexFunc(vars, func(v Variable) bool { return v.Name == varKubernetes })
	if i < 0 || vars[i].Default != KubernetesAuto || !strings.HasPrefix(vars[i].Description, "extension:") {
		t.Errorf("%s: %+v", varKubernetes, vars)
	}
	if !slices.ContainsFunc(vars, func(v Variable) bool { return v.Name == varPeerSelector && v.Default == "" }) {
		t.Errorf("%s is not documented without a default", varPeerSelector)
	}
}
