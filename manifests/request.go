// Package manifests owns the Kubernetes and OpenShift objects that deploy the
// agent: it turns the options of `ipfailover manifests` (the flags of the
// original `oc adm ipfailover`) into an environment that package env
// validates exactly as the agent will, and into a ServiceAccount, an optional
// ConfigMap of scripts, an optional SCC RoleBinding and a Deployment,
// DaemonSet or DeploymentConfig whose container carries every setting as an
// explicit OPENSHIFT_HA_* variable.
package manifests

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"github.com/ipfailover/ipfailover/env"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Kind selects the workload object that runs the agent.
type Kind string

// Workload kinds accepted by --kind.
const (
	KindDeployment       Kind = "deployment"
	KindDaemonSet        Kind = "daemonset"
	KindDeploymentConfig Kind = "deploymentconfig"
)

// Defaults of the flags. They are those of the 3.x `oc adm ipfailover` CLI,
// not the image's own defaults (offset 10, one replica): the CLI always
// wrote its values into the environment, and so does Build, so that a
// generated configuration does not change meaning when the image's
// defaults do.
const (
	DefaultName           = "ipfailover"
	DefaultServiceAccount = "ipfailover"
	DefaultReplicas       = "2"
	DefaultWatchPort      = "80"
	DefaultVRRPIDOffset   = "0"
	DefaultIPTablesChain  = "INPUT"
	DefaultCheckInterval  = "2"
	DefaultPreemption     = "preempt_delay 300"
	DefaultAdvertInterval = "1"
	// DefaultKubernetes is OPENSHIFT_HA_KUBERNETES: the Kubernetes API
	// features on, with the Role they need.
	DefaultKubernetes = "auto"
	// DefaultImage is used when --image is not given and the binary carries
	// no release version.
	DefaultImage = "ipfailover/ipfailover:latest"
)

// ScriptDir is where the scripts ConfigMap is mounted in the pod.
const ScriptDir = "/etc/ipfailover/scripts"

// AuthPasswordDir is where --auth-password-secret's Secret is mounted, and
// AuthPasswordKey the Secret's key that holds the VRRP password; the file
// AuthPasswordDir/AuthPasswordKey is OPENSHIFT_HA_AUTH_PASSWORD_FILE.
const (
	AuthPasswordDir = "/etc/ipfailover/auth"
	AuthPasswordKey = "password"
)

// Request holds the generator's options as the user typed them. Values that
// end up in the environment stay strings so that env.Load, not the flag
// parser, judges them and its messages are the agent's own.
type Request struct {
	Name           string
	Namespace      string // "" leaves metadata.namespace unset (kubectl apply -n decides)
	Kind           Kind
	Image          string
	ServiceAccount string
	Selector       string // "key=value,..." node selector, also OPENSHIFT_HA_SELECTOR

	Replicas        string // OPENSHIFT_HA_REPLICA_COUNT and spec.replicas
	VirtualIPs      string // OPENSHIFT_HA_VIRTUAL_IPS
	WatchPort       string // OPENSHIFT_HA_MONITOR_PORT
	Interface       string // OPENSHIFT_HA_NETWORK_INTERFACE; "" leaves it unset (default route)
	VRRPIDOffset    string // OPENSHIFT_HA_VRRP_ID_OFFSET
	VirtualIPGroups string // OPENSHIFT_HA_VIP_GROUPS; "" leaves it unset
	IPTablesChain   string // OPENSHIFT_HA_IPTABLES_CHAIN; "" means no rule
	CheckScript     string // local file to embed, or a path inside the pod
	CheckInterval   string // OPENSHIFT_HA_CHECK_INTERVAL
	NotifyScript    string // local file to embed, or a path inside the pod
	Preemption      string // OPENSHIFT_HA_PREEMPTION
	AdvertInterval  string // OPENSHIFT_HA_ADVERT_INTERVAL
	// MetricsAddress is OPENSHIFT_HA_METRICS_ADDRESS; nil means the agent's
	// default for the offset (written out explicitly), "" disables the
	// server and with it the probes.
	MetricsAddress *string
	// AuthPasswordSecret names a Secret whose key AuthPasswordKey is the
	// VRRP password; it is mounted and OPENSHIFT_HA_AUTH_PASSWORD_FILE
	// points at it. "" keeps the name-derived password.
	AuthPasswordSecret string
	// Kubernetes is OPENSHIFT_HA_KUBERNETES (auto or off). Unless off, the
	// output also holds a Role of kube.RequiredRules, its RoleBinding to
	// ServiceAccount, and the downward-API variables the agent needs
	// (DownwardEnv).
	Kubernetes string
	// PeerSelector is OPENSHIFT_HA_PEER_SELECTOR; "" leaves it unset (the
	// workload's own selector picks the peers).
	PeerSelector string

	// ReadFile reads a local script; nil means scripts are always paths
	// inside the pod. Injected so tests need no files.
	ReadFile func(name string) ([]byte, error)
}

// NewRequest returns a Request with every default filled in.
func NewRequest() Request {
	return Request{
		Name:           DefaultName,
		Kind:           KindDeployment,
		Image:          DefaultImage,
		ServiceAccount: DefaultServiceAccount,
		Replicas:       DefaultReplicas,
		WatchPort:      DefaultWatchPort,
		VRRPIDOffset:   DefaultVRRPIDOffset,
		IPTablesChain:  DefaultIPTablesChain,
		CheckInterval:  DefaultCheckInterval,
		Preemption:     DefaultPreemption,
		AdvertInterval: DefaultAdvertInterval,
		Kubernetes:     DefaultKubernetes,
	}
}

// FlagFor maps an environment variable to the generator flag that sets it,
// so messages from env can name the flag too. It returns "" for variables
// no flag sets.
func FlagFor(variable string) string {
	return flagOf[variable]
}

var flagOf = map[string]string{
	"OPENSHIFT_HA_CONFIG_NAME":       "NAME",
	"OPENSHIFT_HA_SELECTOR":          "--selector",
	"OPENSHIFT_HA_REPLICA_COUNT":     "--replicas",
	"OPENSHIFT_HA_VIRTUAL_IPS":       "--virtual-ips",
	"OPENSHIFT_HA_MONITOR_PORT":      "--watch-port",
	"OPENSHIFT_HA_NETWORK_INTERFACE": "--interface",
	"OPENSHIFT_HA_VRRP_ID_OFFSET":    "--vrrp-id-offset",
	"OPENSHIFT_HA_VIP_GROUPS":        "--virtual-ip-groups",
	"OPENSHIFT_HA_IPTABLES_CHAIN":    "--iptables-chain",
	"OPENSHIFT_HA_CHECK_SCRIPT":      "--check-script",
	"OPENSHIFT_HA_CHECK_INTERVAL":    "--check-interval",
	"OPENSHIFT_HA_NOTIFY_SCRIPT":     "--notify-script",
	"OPENSHIFT_HA_PREEMPTION":        "--preempt-strategy",
	"OPENSHIFT_HA_ADVERT_INTERVAL":   "--advert-interval",
	"OPENSHIFT_HA_METRICS_ADDRESS":   "--metrics-address",
	// The flag names the Secret; the variable is the file it becomes.
	"OPENSHIFT_HA_AUTH_PASSWORD_FILE": "--auth-password-secret",
	"OPENSHIFT_HA_KUBERNETES":         "--kubernetes",
	"OPENSHIFT_HA_PEER_SELECTOR":      "--peer-selector",
}

// script is one check or notify script: embedded into the scripts ConfigMap
// when Key is set, else only a path inside the pod.
type script struct {
	Key     string // ConfigMap key (the local file's base name)
	Content string
	PodPath string // value of the environment variable
}

// problems collects generator-level problems in env's format, so the caller
// prints them exactly like the agent's own.
type problems []env.Problem

func (p *problems) add(flag, value, reason string) {
	*p = append(*p, env.Problem{Variable: flag, Value: value, Reason: reason})
}

// configMapKey is the character set Kubernetes accepts for ConfigMap keys.
var configMapKey = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

// resolveScript decides whether value names a local file (embedded) or a
// path inside the pod (passed through), and explains the choice in a note.
func resolveScript(flag, value string, readFile func(string) ([]byte, error), ps *problems) (script, string) {
	if value == "" {
		return script{}, ""
	}
	if readFile != nil {
		data, err := readFile(value)
		switch {
		case err == nil:
			key := path.Base(strings.ReplaceAll(value, `\`, "/"))
			if !configMapKey.MatchString(key) || len(key) > validation.DNS1123SubdomainMaxLength {
				ps.add(flag, value, "the file's base name must be a ConfigMap key: letters, digits, '-', '_' and '.' (at most 253); rename the file")
				return script{}, ""
			}
			s := script{Key: key, Content: string(data), PodPath: ScriptDir + "/" + key}
			return s, fmt.Sprintf("%s: embedding local file %s into the scripts ConfigMap, mounted as %s", flag, value, s.PodPath)
		case !errors.Is(err, fs.ErrNotExist):
			ps.add(flag, value, fmt.Sprintf("cannot read the local file: %v; give a readable local file to embed, or an absolute path inside the pod", errors.Unwrap(err)))
			return script{}, ""
		}
	}
	if !strings.HasPrefix(value, "/") {
		ps.add(flag, value, "is neither a local file (to embed in a ConfigMap) nor an absolute path inside the pod")
		return script{}, ""
	}
	return script{PodPath: value}, fmt.Sprintf("%s: %s is not a local file; it is used as a path inside the pod, which must provide it", flag, value)
}

// parseSelector turns "k=v,k2=v2" into a node selector, with Kubernetes'
// label rules. Only equality is allowed: a nodeSelector cannot express
// "!=" or set-based requirements.
func parseSelector(s string, ps *problems) map[string]string {
	if s == "" {
		return nil
	}
	const accepted = "must be a comma-separated list of key=value node labels (like router=us-west-ha); != and set expressions cannot be a nodeSelector"
	if strings.Contains(s, "!") || strings.Contains(s, "(") {
		ps.add("--selector", s, accepted)
		return nil
	}
	m, err := labels.ConvertSelectorToLabelsMap(s)
	if err != nil {
		ps.add("--selector", s, accepted+" ("+err.Error()+")")
		return nil
	}
	if len(m) == 0 {
		ps.add("--selector", s, accepted)
		return nil
	}
	for k, v := range m {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			ps.add("--selector", s, fmt.Sprintf("label key %q: %s", k, strings.Join(errs, "; ")))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			ps.add("--selector", s, fmt.Sprintf("label value %q: %s", v, strings.Join(errs, "; ")))
		}
	}
	return m
}
