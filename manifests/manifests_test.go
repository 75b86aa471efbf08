package manifests

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/kube"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenCases are command lines of `ipfailover manifests`; the first ones
// are the seed documentation's own `oc adm ipfailover` examples, verbatim.
var goldenCases = []struct {
	name string
	args []string
}{
	{"seed-router-us-west", []string{`--selector=router=us-west-ha`, `--virtual-ips=1.2.3.4,10.1.1.100-104,5.6.7.8`, `--watch-port=80`, `--replicas=4`, `--create`}},
	{"seed-ipf-ha-router-us-west", []string{"ipf-ha-router-us-west", "--replicas=5", "--watch-port=80", "--selector=ha-svc-nodes=geo-us-west", "--virtual-ips=10.245.2.101-105", "--iptables-chain=INPUT", "--service-account=ipfailover", "--create"}},
	{"seed-ipf-ha-geo-cache", []string{"ipf-ha-geo-cache", "--replicas=5", "--watch-port=9736", "--selector=ha-svc-nodes=geo-us-west", "--virtual-ips=10.245.3.101-105", "--vrrp-id-offset=10", "--service-account=ipfailover", "--create"}},
	{"seed-ipf-ha-postgresql", []string{"ipf-ha-postgresql", "--replicas=1", "--selector=app-type=postgresql", "--virtual-ips=10.9.54.100", "--watch-port=32439", "--service-account=ipfailover", "--create"}},
	{"daemonset-scripts", []string{"edge", "--kind=daemonset", "--namespace=ipfailover", "--virtual-ips=192.0.2.10-12", "--virtual-ip-groups=2", "--interface=eth1",
		"--check-script=testdata/scripts/mycheckscript.sh", "--notify-script=testdata/scripts/notify.sh", "--check-interval=3",
		"--preempt-strategy=nopreempt", "--image=registry.example/ipfailover:v1.0.0", "--advert-interval=0.5"}},
	{"deploymentconfig", []string{"ipf-dc", "--kind=deploymentconfig", "--namespace=default", "--virtual-ips=198.51.100.1,2001:db8::1", "--vrrp-id-offset=20",
		"--check-script=/opt/checks/app.sh", "--iptables-chain=", "--metrics-address=127.0.0.1:9465", "--preemption-strategy=preempt_delay 60"}},
	{"deploymentconfig-no-namespace", []string{"ipf-dc", "--kind=deploymentconfig", "--virtual-ips=203.0.113.7", "--metrics-address="}},
	{"json", []string{"ipf-json", "--virtual-ips=192.0.2.1", "-o", "json", "--replicas=3"}},
	{"auth-password-secret", []string{"ipf-auth", "--namespace=ipfailover", "--virtual-ips=192.0.2.50-51", "--vrrp-id-offset=30",
		"--check-script=testdata/scripts/mycheckscript.sh", "--auth-password-secret=ipf-auth-vrrp"}},
	{"kubernetes-off", []string{"ipf-static", "--namespace=ipfailover", "--virtual-ips=192.0.2.60", "--vrrp-id-offset=40", "--kubernetes=off"}},
	{"peer-selector", []string{"ipf-sel", "--kind=daemonset", "--virtual-ips=192.0.2.70-71", "--vrrp-id-offset=50",
		"--peer-selector=ipfailover in (ipf-sel,ipf-sel-canary)"}},
}

func request() Request {
	r := NewRequest()
	r.ReadFile = os.ReadFile
	return r
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			var usage bytes.Buffer
			inv, err := ParseArgs(request(), tc.args, &usage)
			if err != nil {
				t.Fatalf("ParseArgs: %v\n%s", err, usage.String())
			}
			out, warnings, notes, err := Run(inv)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			var stderr strings.Builder
			for _, w := range warnings {
				fmt.Fprintln(&stderr, "warning:", w)
			}
			for _, n := range notes {
				fmt.Fprintln(&stderr, "note:", n)
			}
			ext := ".yaml"
			if inv.Format == FormatJSON {
				ext = ".json"
			}
			golden(t, filepath.Join("testdata", tc.name+ext), out)
			golden(t, filepath.Join("testdata", tc.name+".stderr"), []byte(stderr.String()))

			objs := decodeStrict(t, out, inv.Format)
			// Decoding and re-encoding gives the same bytes: nothing the
			// generator wrote is lost or misnamed in the API types.
			var again bytes.Buffer
			if err := Encode(&again, objs, inv.Format); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.Bytes(), out) {
				t.Errorf("re-encoding the decoded objects differs:\n%s", again.String())
			}
			checkInvariants(t, inv.Request, objs)
			checkAPIRole(t, inv.Request.Kubernetes == "off", inv.Request.ServiceAccount, inv.Request.Namespace, inv.Request.Namespace, objs)
		})
	}
}

// checkAPIRole: unless off (--kubernetes=off), objs grant the service
// account sa of namespace saNS exactly kube.RequiredRules through a Role
// and a RoleBinding in namespace ns; with off, no Role at all.
func checkAPIRole(t *testing.T, off bool, sa, saNS, ns string, objs []any) {
	t.Helper()
	var roles []*rbacv1.Role
	var binding *rbacv1.RoleBinding
	for _, o := range objs {
		switch v := o.(type) {
		case *rbacv1.Role:
			roles = append(roles, v)
		case *rbacv1.RoleBinding:
			if v.RoleRef.Kind == "Role" {
				binding = v
			}
		}
	}
	if off {
		if len(roles) != 0 || binding != nil {
			t.Errorf("--kubernetes=off: unexpected Role %v or RoleBinding %v", roles, binding)
		}
		return
	}
	if len(roles) != 1 || binding == nil {
		t.Fatalf("want one Role and its RoleBinding, got %d Roles, binding %v", len(roles), binding)
	}
	if !reflect.DeepEqual(roles[0].Rules, kube.RequiredRules()) {
		t.Errorf("Role rules %+v, want kube.RequiredRules() %+v", roles[0].Rules, kube.RequiredRules())
	}
	want := rbacv1.RoleBinding{
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: roles[0].Name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: saNS}},
	}
	if !reflect.DeepEqual(binding.RoleRef, want.RoleRef) || !reflect.DeepEqual(binding.Subjects, want.Subjects) {
		t.Errorf("RoleBinding %+v %+v, want %+v %+v", binding.RoleRef, binding.Subjects, want.RoleRef, want.Subjects)
	}
	if roles[0].Namespace != ns || binding.Namespace != ns {
		t.Errorf("Role in %q, RoleBinding in %q, want %q", roles[0].Namespace, binding.Namespace, ns)
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./manifests -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./manifests -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// serviceMonitor is the subset of the Prometheus operator's ServiceMonitor
// used in deploy/, to decode it strictly without the operator's module.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path,omitempty"`
			Interval string `json:"interval,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// prometheusRule is the subset of the Prometheus operator's PrometheusRule
// used in deploy/, to decode it strictly without the operator's module.
type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Groups []struct {
			Name     string `json:"name"`
			Interval string `json:"interval,omitempty"`
			Rules    []struct {
				Alert       string            `json:"alert,omitempty"`
				Record      string            `json:"record,omitempty"`
				Expr        string            `json:"expr"`
				For         string            `json:"for,omitempty"`
				Labels      map[string]string `json:"labels,omitempty"`
				Annotations map[string]string `json:"annotations,omitempty"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// newTyped returns an empty object of the API type for apiVersion/kind.
func newTyped(apiVersion, kind string) (any, error) {
	switch apiVersion + " " + kind {
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "v1 Namespace":
		return &corev1.Namespace{}, nil
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "apps/v1 DaemonSet":
		return &appsv1.DaemonSet{}, nil
	case "batch/v1 Job":
		return &batchv1.Job{}, nil
	case "rbac.authorization.k8s.io/v1 RoleBinding":
		return &rbacv1.RoleBinding{}, nil
	case "rbac.authorization.k8s.io/v1 Role":
		return &rbacv1.Role{}, nil
	case "apps.openshift.io/v1 DeploymentConfig":
		return &DeploymentConfig{}, nil
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &serviceMonitor{}, nil
	case "monitoring.coreos.com/v1 PrometheusRule":
		return &prometheusRule{}, nil
	}
	return nil, fmt.Errorf("no API type for %s %s", apiVersion, kind)
}

// decodeStrict decodes every object into its API type, rejecting unknown
// or duplicate fields.
func decodeStrict(t *testing.T, data []byte, format Format) []any {
	t.Helper()
	var docs [][]byte
	if format == FormatJSON {
		var list struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Items      []json.RawMessage `json:"items"`
		}
		d := json.NewDecoder(bytes.NewReader(data))
		d.DisallowUnknownFields()
		if err := d.Decode(&list); err != nil {
			t.Fatalf("decode List: %v", err)
		}
		if list.APIVersion != "v1" || list.Kind != "List" {
			t.Fatalf("JSON output is %s %s, want v1 List", list.APIVersion, list.Kind)
		}
		for _, it := range list.Items {
			docs = append(docs, it)
		}
	} else {
		for _, doc := range bytes.Split(data, []byte("\n---\n")) {
			if len(bytes.TrimSpace(doc)) > 0 {
				docs = append(docs, doc)
			}
		}
	}
	var objs []any
	for _, doc := range docs {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("read kind: %v\n%s", err, doc)
		}
		obj, err := newTyped(tm.APIVersion, tm.Kind)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("strict decode of %s: %v\n%s", tm.Kind, err, doc)
		}
		objs = append(objs, obj)
	}
	return objs
}

// checkInvariants checks what every generated workload must have,
// whatever the golden files say.
func checkInvariants(t *testing.T, req Request, objs []any) {
	checkInvariantsEnv(t, req, objs, nil)
}

// checkInvariantsEnv is checkInvariants for pods that take their
// environment from a ConfigMap (envFrom): environ stands in for it.
func checkInvariantsEnv(t *testing.T, req Request, objs []any, environ []string) {
	t.Helper()
	var tmpl *corev1.PodTemplateSpec
	for _, o := range objs {
		switch w := o.(type) {
		case *appsv1.Deployment:
			tmpl = &w.Spec.Template
			if w.Spec.Strategy.RollingUpdate == nil || w.Spec.Strategy.RollingUpdate.MaxSurge.IntValue() != 0 {
				t.Error("Deployment must roll with maxSurge 0 (one node at a time)")
			}
		case *appsv1.DaemonSet:
			tmpl = &w.Spec.Template
		case *DeploymentConfig:
			tmpl = w.Spec.Template
		}
	}
	if tmpl == nil {
		t.Fatal("no workload in the output")
	}
	spec := tmpl.Spec
	if !spec.HostNetwork {
		t.Error("pod must use the host network")
	}
	if spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds < 15 {
		t.Error("terminationGracePeriodSeconds must leave time for the graceful handover")
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			t.Errorf("volume %s mounts the host (%s)", v.Name, v.HostPath.Path)
		}
		if v.ConfigMap != nil && (v.ConfigMap.DefaultMode == nil || *v.ConfigMap.DefaultMode != 0o755) {
			t.Errorf("scripts volume %s must have defaultMode 0755", v.Name)
		}
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Fatal("container must drop ALL capabilities")
	}
	var added []string
	for _, a := range sc.Capabilities.Add {
		added = append(added, string(a))
	}
	if strings.Join(added, ",") != strings.Join(Capabilities(), ",") {
		t.Errorf("capabilities added = %v, want %v", added, Capabilities())
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("the generator must not ask for privileged")
	}
	// The environment must load in the agent exactly as written; the
	// rest is the downward API, exactly as DownwardEnv says.
	var downward []corev1.EnvVar
	for _, e := range c.Env {
		switch {
		case strings.HasPrefix(e.Name, "OPENSHIFT_HA_") && e.ValueFrom == nil:
			environ = append(environ, e.Name+"="+e.Value)
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			downward = append(downward, e)
		default:
			t.Errorf("unexpected variable %s", e.Name)
		}
	}
	cfg, warns, err := env.Load(environ)
	if err != nil || len(warns) > 0 {
		t.Errorf("env.Load of the generated environment: %v %v", err, warns)
	}
	if cfg.Kubernetes == env.KubernetesOff {
		if len(downward) != 0 {
			t.Errorf("OPENSHIFT_HA_KUBERNETES=off, yet downward-API variables %v", downward)
		}
	} else {
		if !reflect.DeepEqual(downward, DownwardEnv()) {
			t.Errorf("downward-API variables %+v, want %+v", downward, DownwardEnv())
		}
		if spec.AutomountServiceAccountToken != nil && !*spec.AutomountServiceAccountToken {
			t.Error("the Kubernetes API features need the service-account token mounted")
		}
	}
	// The password file, when set, is a read-only mounted Secret key that
	// only root can read.
	if cfg.AuthPasswordFile != "" {
		found := false
		for _, m := range c.VolumeMounts {
			for _, v := range spec.Volumes {
				if v.Name != m.Name || v.Secret == nil {
					continue
				}
				for _, it := range v.Secret.Items {
					if m.MountPath+"/"+it.Path == cfg.AuthPasswordFile {
						found = true
						if !m.ReadOnly || m.SubPath != "" || v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o077 != 0 {
							t.Errorf("password Secret %s: mount must be read-only without subPath (so updates arrive) and mode must be owner-only", v.Secret.SecretName)
						}
					}
				}
			}
		}
		if !found {
			t.Errorf("OPENSHIFT_HA_AUTH_PASSWORD_FILE=%s is not a key of a mounted Secret", cfg.AuthPasswordFile)
		}
	}
	if cfg.MetricsAddress != "" {
		if len(c.Ports) != 1 || !strings.HasSuffix(cfg.MetricsAddress, fmt.Sprintf(":%d", c.Ports[0].ContainerPort)) {
			t.Errorf("metrics port %v does not match OPENSHIFT_HA_METRICS_ADDRESS=%s", c.Ports, cfg.MetricsAddress)
		}
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" ||
			c.LivenessProbe.HTTPGet.Port != intstr.FromString("metrics") {
			t.Error("liveness probe must GET /healthz on the metrics port")
		}
	}
	if req.Kind != KindDaemonSet && (spec.Affinity == nil || spec.Affinity.PodAntiAffinity == nil) {
		t.Error("Deployment/DeploymentConfig pods need anti-affinity (one per node)")
	}
}

// TestDefaultsAreThe3xCLIs pins the defaults written into the environment.
func TestDefaultsAreThe3xCLIs(t *testing.T) {
	inv, err := ParseArgs(request(), []string{"--virtual-ips=192.0.2.1"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Build(inv.Request)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range res.Env {
		got[e.Name] = e.Value
	}
	for k, want := range map[string]string{
		"OPENSHIFT_HA_CONFIG_NAME":     "ipfailover",
		"OPENSHIFT_HA_VRRP_ID_OFFSET":  "0",
		"OPENSHIFT_HA_IPTABLES_CHAIN":  "INPUT",
		"OPENSHIFT_HA_MONITOR_PORT":    "80",
		"OPENSHIFT_HA_REPLICA_COUNT":   "2",
		"OPENSHIFT_HA_CHECK_INTERVAL":  "2",
		"OPENSHIFT_HA_PREEMPTION":      "preempt_delay 300",
		"OPENSHIFT_HA_ADVERT_INTERVAL": "1",
		"OPENSHIFT_HA_METRICS_ADDRESS": ":63000",
		"OPENSHIFT_HA_KUBERNETES":      "auto",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	if _, ok := got["OPENSHIFT_HA_NETWORK_INTERFACE"]; ok {
		t.Error("the interface must be left to the agent (default route) unless --interface is given")
	}
}

// TestInvalid: bad input yields every problem in env's format and no output.
func TestInvalid(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // substrings, one per expected problem, in order
	}{
		{"no VIPs", nil, []string{"OPENSHIFT_HA_VIRTUAL_IPS"}},
		{"offset out of range", []string{"--virtual-ips=192.0.2.1", "--vrrp-id-offset=255"}, []string{`OPENSHIFT_HA_VRRP_ID_OFFSET="255"`}},
		{"bad VIP", []string{"--virtual-ips=192.0.2.1/33"}, []string{`OPENSHIFT_HA_VIRTUAL_IPS`}},
		{"replicas not a number", []string{"--virtual-ips=192.0.2.1", "--replicas=two"}, []string{`OPENSHIFT_HA_REPLICA_COUNT="two"`}},
		{"preemption injection", []string{"--virtual-ips=192.0.2.1", "--preempt-strategy=nopreempt\n}"}, []string{`OPENSHIFT_HA_PREEMPTION`}},
		{"bad kind and output", []string{"--virtual-ips=192.0.2.1", "--kind=statefulset", "-o", "xml"}, []string{`--output="xml"`, `--kind="statefulset"`}},
		{"bad name", []string{"Router_1", "--virtual-ips=192.0.2.1"}, []string{`NAME="Router_1"`}},
		{"negative selector", []string{"--virtual-ips=192.0.2.1", "--selector=zone!=a"}, []string{`--selector="zone!=a"`}},
		{"bad label value", []string{"--virtual-ips=192.0.2.1", "--selector=zone=-a"}, []string{`--selector="zone=-a"`}},
		{"relative missing script", []string{"--virtual-ips=192.0.2.1", "--check-script=nope.sh"}, []string{`--check-script="nope.sh"`}},
		{"bad namespace", []string{"--virtual-ips=192.0.2.1", "--namespace=Default"}, []string{`--namespace="Default"`}},
		{"bad password secret", []string{"--virtual-ips=192.0.2.1", "--auth-password-secret=VRRP_Password"}, []string{`--auth-password-secret="VRRP_Password"`}},
		{"too many groups for the offset", []string{"--virtual-ips=192.0.2.0/24", "--vrrp-id-offset=100"}, []string{"OPENSHIFT_HA_"}},
		{"bad kubernetes mode and peer selector", []string{"--virtual-ips=192.0.2.1", "--kubernetes=on", "--peer-selector=app in (a"},
			[]string{`OPENSHIFT_HA_KUBERNETES="on"`, `OPENSHIFT_HA_PEER_SELECTOR="app in (a"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := ParseArgs(request(), tc.args, &bytes.Buffer{})
			if err != nil {
				t.Fatalf("ParseArgs: %v", err)
			}
			out, _, _, err := Run(inv)
			var invalid *env.InvalidError
			if !errors.As(err, &invalid) {
				t.Fatalf("err = %v, want *env.InvalidError", err)
			}
			if out != nil {
				t.Errorf("output on error: %q", out)
			}
			if len(invalid.Problems) != len(tc.want) {
				t.Fatalf("problems = %v, want %d", invalid.Problems, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(invalid.Problems[i].String(), w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, invalid.Problems[i], w)
				}
			}
		})
	}
}

func TestParseArgsSyntax(t *testing.T) {
	for _, args := range [][]string{{"a", "b", "--virtual-ips=192.0.2.1"}, {"--no-such-flag"}} {
		if _, err := ParseArgs(request(), args, &bytes.Buffer{}); !errors.Is(err, ErrUsage) {
			t.Errorf("ParseArgs(%q) = %v, want ErrUsage", args, err)
		}
	}
	inv, err := ParseArgs(request(), []string{"--virtual-ips=192.0.2.1", "geo", "-r", "3"}, &bytes.Buffer{})
	if err != nil || inv.Request.Name != "geo" || inv.Request.Replicas != "3" {
		t.Errorf("NAME between flags: %+v, %v", inv.Request, err)
	}
}

func TestVRIDWarning(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		want, not  string
		bottomNote bool
	}{
		{[]string{"--virtual-ips=192.0.2.1-7"}, "VRIDs 1-7 (--vrrp-id-offset=0)", "next free offset", true},
		{[]string{"--virtual-ips=192.0.2.1-5", "--vrrp-id-offset=10"}, "VRIDs 11-15 (--vrrp-id-offset=10) must be unique on this network; next free offset: 20 (", "", false},
		{[]string{"--virtual-ips=192.0.2.1", "--vrrp-id-offset=254"}, "VRID 255 (--vrrp-id-offset=254) must be unique", "next free offset", false},
	} {
		inv, _ := ParseArgs(request(), tc.args, &bytes.Buffer{})
		_, warnings, _, err := Run(inv)
		if err != nil {
			t.Fatal(err)
		}
		w := strings.Join(warnings, "\n")
		if !strings.Contains(w, tc.want) || (tc.not != "" && strings.Contains(w, tc.not)) {
			t.Errorf("%v: warning %q, want %q and not %q", tc.args, w, tc.want, tc.not)
		}
		if strings.Contains(w, "crowd low VRIDs") != tc.bottomNote {
			t.Errorf("%v: bottom-of-space note = %v, want %v", tc.args, !tc.bottomNote, tc.bottomNote)
		}
		if !strings.Contains(w, "docs/operations.md#planning-vrids") {
			t.Errorf("%v: warning %q does not point to the docs", tc.args, w)
		}
	}
}

// TestVRIDWarningIsOneShortLine: whatever the range, the warning as the
// command prints it is one line under 160 characters.
func TestVRIDWarningIsOneShortLine(t *testing.T) {
	longest := ""
	for offset := 0; offset <= 254; offset++ {
		for groups := 1; offset+groups <= 255; groups++ {
			cfg := env.Config{VRIDOffset: offset, Groups: []env.Group{{VRID: offset + 1}, {VRID: offset + groups}}}
			ws := vridWarnings(cfg)
			if len(ws) != 1 {
				t.Fatalf("offset %d, %d groups: %d warnings", offset, groups, len(ws))
			}
			line := "ipfailover manifests: warning: " + ws[0]
			if strings.ContainsAny(line, "\r\n") {
				t.Fatalf("offset %d, %d groups: warning spans lines: %q", offset, groups, line)
			}
			if len(line) > len(longest) {
				longest = line
			}
		}
	}
	if len(longest) >= 160 {
		t.Errorf("longest VRID warning has %d characters (want < 160): %s", len(longest), longest)
	}
	t.Logf("longest (%d): %s", len(longest), longest)
}

// TestScriptResolution: a readable local file is embedded, a missing
// absolute path is a path in the pod, and an unreadable file is an error.
func TestScriptResolution(t *testing.T) {
	files := map[string]string{"/local/check.sh": "#!/bin/sh\nexit 0\n"}
	readFile := func(name string) ([]byte, error) {
		if name == "/local/dir" {
			return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
		}
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	var ps problems
	s, _ := resolveScript("--check-script", "/local/check.sh", readFile, &ps)
	if s.Key != "check.sh" || s.PodPath != ScriptDir+"/check.sh" || s.Content != files["/local/check.sh"] {
		t.Errorf("embedded script = %+v", s)
	}
	s, _ = resolveScript("--check-script", "/opt/in-pod.sh", readFile, &ps)
	if s.Key != "" || s.PodPath != "/opt/in-pod.sh" {
		t.Errorf("in-pod script = %+v", s)
	}
	if len(ps) != 0 {
		t.Fatalf("unexpected problems %v", ps)
	}
	resolveScript("--check-script", "/local/dir", readFile, &ps)
	if len(ps) != 1 || !strings.Contains(ps[0].Reason, "is a directory") {
		t.Errorf("unreadable file: %v", ps)
	}
}

// TestDeployManifests decodes every object under deploy/ strictly and
// checks the workloads with the generator's invariants.
func TestDeployManifests(t *testing.T) {
	root := filepath.Join("..", "deploy")
	environ := readEnvFile(t, filepath.Join(root, "base", "config.env"))
	n := 0
	var rbacObjs []any
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if filepath.Base(path) == "kustomization.yaml" {
			checkKustomization(t, path, data)
			return nil
		}
		if strings.HasPrefix(filepath.ToSlash(path), "../deploy/monitoring/") {
			return nil // owned and tested elsewhere
		}
		t.Run(path, func(t *testing.T) {
			objs := decodeStrict(t, data, FormatYAML)
			for _, o := range objs {
				switch o.(type) {
				case *appsv1.Deployment, *appsv1.DaemonSet:
					checkInvariantsEnv(t, Request{Kind: kindOf(o)}, []any{o}, environ)
				case *rbacv1.Role, *rbacv1.RoleBinding:
					rbacObjs = append(rbacObjs, o)
				}
			}
			n += len(objs)
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no objects found under deploy/")
	}
	// The base's Role is exactly what the agent uses, granted to the
	// pods' service account (kustomize sets the objects' namespace).
	checkAPIRole(t, false, "ipfailover", "ipfailover", "", rbacObjs)
}

func kindOf(o any) Kind {
	if _, ok := o.(*appsv1.DaemonSet); ok {
		return KindDaemonSet
	}
	return KindDeployment
}

// kustomization is the subset of kustomize's Kustomization used in deploy/.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources,omitempty"`
	Components []string `json:"components,omitempty"`
	Patches    []struct {
		Path   string `json:"path,omitempty"`
		Patch  string `json:"patch,omitempty"`
		Target *struct {
			Group string `json:"group,omitempty"`
			Kind  string `json:"kind,omitempty"`
			Name  string `json:"name,omitempty"`
		} `json:"target,omitempty"`
	} `json:"patches,omitempty"`
	ConfigMapGenerator []struct {
		Name string   `json:"name"`
		Envs []string `json:"envs,omitempty"`
	} `json:"configMapGenerator,omitempty"`
	Labels []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors,omitempty"`
	} `json:"labels,omitempty"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
}

// checkKustomization decodes a kustomization strictly and checks that every
// file it names exists.
func checkKustomization(t *testing.T, path string, data []byte) {
	t.Helper()
	var k kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" && k.APIVersion != "kustomize.config.k8s.io/v1alpha1" {
		t.Errorf("%s: apiVersion %q", path, k.APIVersion)
	}
	dir := filepath.Dir(path)
	refs := append(append([]string{}, k.Resources...), k.Components...)
	for _, p := range k.Patches {
		if p.Path != "" {
			refs = append(refs, p.Path)
		}
	}
	for _, g := range k.ConfigMapGenerator {
		for _, e := range g.Envs {
			if strings.HasPrefix(e, "..") {
				t.Errorf("%s: %s is outside the kustomization root, which kustomize refuses", path, e)
			}
			refs = append(refs, e)
		}
	}
	for _, r := range refs {
		if _, err := os.Stat(filepath.Join(dir, r)); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

// readEnvFile reads a kustomize envs file: KEY=VALUE lines, # comments.
func readEnvFile(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.Contains(line, "=") {
			t.Fatalf("%s: not KEY=VALUE: %q", path, line)
		}
		out = append(out, line)
	}
	return out
}
