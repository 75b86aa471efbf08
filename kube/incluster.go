package kube

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/rest"
)

// ServiceAccountDir is where the kubelet mounts the pod's service-account
// token and the cluster's CA.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// Modes of OPENSHIFT_HA_KUBERNETES.
const (
	ModeAuto = "auto" // use the API when the pod has in-cluster credentials
	ModeOff  = "off"  // never talk to the API
)

// ErrOff wraps every reason Detect gives for leaving the API features off.
// It is not a failure: the agent runs on its static configuration.
var ErrOff = errors.New("kubernetes API features off")

// Target is what the API features need: how to reach the API server and
// which pod is this agent.
type Target struct {
	Config    *rest.Config
	Namespace string // POD_NAMESPACE
	PodName   string // POD_NAME
}

// Detect decides whether the agent uses the Kubernetes API. mode is
// OPENSHIFT_HA_KUBERNETES ("" means auto), getenv reads the environment
// (os.Getenv in the agent) and saDir is where the service-account files are
// ("" means ServiceAccountDir).
//
// The error wraps ErrOff when the features stay off for a reason the agent
// should log in one line and then ignore (mode off, not in a pod, no
// token, no POD_NAME/POD_NAMESPACE); any other error is a bad mode.
func Detect(mode string, getenv func(string) string, saDir string) (*Target, error) {
	switch strings.ToLower(strings.TrimSpace(mode)) {
	case "", ModeAuto:
	case ModeOff:
		return nil, fmt.Errorf("%w: OPENSHIFT_HA_KUBERNETES=off", ErrOff)
	default:
		return nil, fmt.Errorf("OPENSHIFT_HA_KUBERNETES=%q: must be %s or %s", mode, ModeAuto, ModeOff)
	}
	if saDir == "" {
		saDir = ServiceAccountDir
	}
	host, port := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, fmt.Errorf("%w: not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT unset)", ErrOff)
	}
	token := filepath.Join(saDir, "token")
	if _, err := os.Stat(token); err != nil {
		return nil, fmt.Errorf("%w: no service-account token (automountServiceAccountToken: false?): %w", ErrOff, err)
	}
	ns, pod := getenv("POD_NAMESPACE"), getenv("POD_NAME")
	if ns == "" || pod == "" {
		return nil, fmt.Errorf("%w: POD_NAME and POD_NAMESPACE are not both set; "+
			"set them from the downward API (fieldRef metadata.name and metadata.namespace) as deploy/ does", ErrOff)
	}
	cfg := &rest.Config{
		Host: "https://" + net.JoinHostPort(host, port),
		// A file, not its contents: bound service-account tokens rotate
		// and client-go rereads the file.
		BearerTokenFile: token,
		UserAgent:       "ipfailover",
	}
	if ca := filepath.Join(saDir, "ca.crt"); fileExists(ca) {
		cfg.TLSClientConfig.CAFile = ca
	}
	return &Target{Config: cfg, Namespace: ns, PodName: pod}, nil
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}
