package env

import (
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// Modes of OPENSHIFT_HA_KUBERNETES. They repeat package kube's constants
// rather than import them: env is the configuration contract and must not
// pull in client-go.
const (
	KubernetesAuto = "auto" // use the API when the pod has in-cluster credentials
	KubernetesOff  = "off"  // never talk to the API
)

const (
	varKubernetes   = "OPENSHIFT_HA_KUBERNETES"
	varPeerSelector = "OPENSHIFT_HA_PEER_SELECTOR"
)

// kubernetes validates OPENSHIFT_HA_KUBERNETES and
// OPENSHIFT_HA_PEER_SELECTOR into c.
func (l *loader) kubernetes(c *Config) {
	mode := strings.ToLower(strings.TrimSpace(l.raw.Kubernetes))
	switch mode {
	case "":
		mode = KubernetesAuto // blanks only: the default, like an empty value
	case KubernetesAuto, KubernetesOff:
	default:
		l.bad(varKubernetes, l.raw.Kubernetes, "must be auto (use the Kubernetes API when running in a pod with a service-account token) or off")
		mode = ""
	}
	c.Kubernetes = mode

	sel := strings.TrimSpace(l.raw.PeerSelector)
	if sel == "" {
		return
	}
	if reason := checkPeerSelector(sel); reason != "" {
		l.bad(varPeerSelector, l.raw.PeerSelector, reason)
		return
	}
	c.PeerSelector = sel
	if mode == KubernetesOff {
		// Not an error: switching the API off for a while should not
		// need the selector removed too.
		l.warn(varPeerSelector, "ignored: "+varKubernetes+" is off")
	}
}

// checkPeerSelector parses a label selector the way the watcher will, so a
// typo stops the agent at start instead of turning the peer discovery off
// later. A selector that picks every pod of the namespace is refused: the
// peers would include unrelated workloads' nodes.
func checkPeerSelector(s string) string {
	sel, err := labels.Parse(s)
	if err != nil {
		return "must be a Kubernetes label selector (e.g. app=ipfailover,tier in (edge)): " + err.Error()
	}
	if sel.Empty() {
		return "selects every pod of the namespace; name the labels of the ipfailover pods"
	}
	return ""
}
