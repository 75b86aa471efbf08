package manifests

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/kube"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Result is what Build produces.
type Result struct {
	// Objects in apply order: ServiceAccount, Role and RoleBinding (unless
	// --kubernetes=off), RoleBinding to the privileged SCC
	// (deploymentconfig with a namespace), ConfigMap (embedded scripts),
	// then the workload.
	Objects []any
	// Env is the configuration in the container's environment, in the
	// order written. Unless --kubernetes=off the container also gets
	// DownwardEnv after it.
	Env []corev1.EnvVar
	// Config is the configuration the agent will load from Env.
	Config env.Config
	// Warnings are env's warnings plus the generator's own (VRID
	// planning); Notes are informational (what was embedded, what to do
	// next). Both go to stderr.
	Warnings []string
	Notes    []string
}

// Pod-level choices, each explained where the pod is built.
const (
	labelKey                = "ipfailover" // the label `oc adm ipfailover` put on its pods
	terminationGraceSeconds = 30
	minReadySeconds         = 10
	// sccClusterRole is the ClusterRole OpenShift 4 creates for the
	// privileged SCC; binding it is what `oc adm policy add-scc-to-user
	// privileged -z SA` does.
	sccClusterRole = "system:openshift:scc:privileged"
	// vridHeadroomHint is the smallest gap suggested between the VRID
	// ranges of two configurations, as in the seed docs' geo-cache example.
	vridHeadroomHint = 10
)

var releaseVersion = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`)

// ImageFor returns the default image for a generator of the given version:
// a release pins its own tag, anything else (dev builds) uses DefaultImage.
func ImageFor(version string) string {
	if releaseVersion.MatchString(version) {
		return "ipfailover/ipfailover:" + version
	}
	return DefaultImage
}

// Build validates req with the agent's own rules and builds the objects.
// Every problem is returned at once in an *env.InvalidError; on error the
// Result is empty.
func Build(req Request) (Result, error) {
	var ps problems
	if errs := validation.IsDNS1123Label(req.Name + "-keepalived"); len(errs) > 0 || req.Name == "" {
		ps.add("NAME", req.Name, "must be a lower-case DNS label (letters, digits, '-'; starting and ending with a letter or digit) of at most 52 characters: it names the objects and the container <NAME>-keepalived")
	}
	switch req.Kind {
	case KindDeployment, KindDaemonSet, KindDeploymentConfig:
	default:
		ps.add("--kind", string(req.Kind), "must be deployment, daemonset or deploymentconfig")
	}
	if req.Namespace != "" {
		if errs := validation.IsDNS1123Label(req.Namespace); len(errs) > 0 {
			ps.add("--namespace", req.Namespace, "must be a lower-case DNS label of at most 63 characters")
		}
	}
	if errs := validation.IsDNS1123Subdomain(req.ServiceAccount); len(errs) > 0 {
		ps.add("--service-account", req.ServiceAccount, "must be a lower-case DNS subdomain (letters, digits, '-', '.') of at most 253 characters")
	}
	if req.AuthPasswordSecret != "" {
		if errs := validation.IsDNS1123Subdomain(req.AuthPasswordSecret); len(errs) > 0 {
			ps.add("--auth-password-secret", req.AuthPasswordSecret, "must be the name of a Secret: a lower-case DNS subdomain (letters, digits, '-', '.') of at most 253 characters")
		}
	}
	if req.Image == "" || len(req.Image) > 1024 || regexp.MustCompile(`\s`).MatchString(req.Image) {
		ps.add("--image", req.Image, "must be a container image reference without white space")
	}
	nodeSelector := parseSelector(req.Selector, &ps)
	check, checkNote := resolveScript("--check-script", req.CheckScript, req.ReadFile, &ps)
	notify, notifyNote := resolveScript("--notify-script", req.NotifyScript, req.ReadFile, &ps)
	if check.Key != "" && check.Key == notify.Key && check.Content != notify.Content {
		ps.add("--notify-script", req.NotifyScript, fmt.Sprintf("has the same base name as --check-script (%s) but different content; rename one of the files", check.Key))
	}

	envVars := environment(req, check.PodPath, notify.PodPath)
	cfg, warns, err := env.Load(environ(envVars))
	if err != nil {
		inv, ok := err.(*env.InvalidError)
		if !ok {
			return Result{}, fmt.Errorf("validate the environment: %w", err)
		}
		ps = append(ps, inv.Problems...)
	}
	if len(ps) > 0 {
		return Result{}, &env.InvalidError{Problems: ps}
	}
	if req.MetricsAddress == nil {
		// Write the agent's default for this offset out explicitly, so the
		// probes, the port and the variable agree and stay put.
		envVars = append(envVars, corev1.EnvVar{Name: "OPENSHIFT_HA_METRICS_ADDRESS", Value: cfg.MetricsAddress})
	}

	res := Result{Env: envVars, Config: cfg}
	for _, w := range warns {
		res.Warnings = append(res.Warnings, w.String())
	}
	res.Warnings = append(res.Warnings, vridWarnings(cfg)...)
	for _, n := range []string{checkNote, notifyNote} {
		if n != "" {
			res.Notes = append(res.Notes, n)
		}
	}

	var scripts []script
	for _, s := range []script{check, notify} {
		if s.Key != "" && (len(scripts) == 0 || scripts[0].Key != s.Key) {
			scripts = append(scripts, s)
		}
	}
	g := generator{req: req, cfg: cfg, env: envVars, nodeSelector: nodeSelector, scripts: scripts}
	res.Objects = append(res.Objects, g.serviceAccount())
	if g.kubernetes() {
		res.Objects = append(res.Objects, g.apiRole(), g.apiRoleBinding())
	}
	if req.Kind == KindDeploymentConfig {
		if req.Namespace != "" {
			res.Objects = append(res.Objects, g.sccRoleBinding())
		} else {
			res.Notes = append(res.Notes, fmt.Sprintf("no --namespace given, so no RoleBinding for the privileged SCC was generated; grant it with: oc adm policy add-scc-to-user privileged -z %s", req.ServiceAccount))
		}
	}
	if len(scripts) > 0 {
		res.Objects = append(res.Objects, g.configMap())
	}
	res.Objects = append(res.Objects, g.workload())
	if cfg.MetricsAddress == "" {
		res.Notes = append(res.Notes, "--metrics-address is empty: the metrics/health server is off, so the pod gets no probes")
	}
	if req.AuthPasswordSecret != "" {
		res.Notes = append(res.Notes, fmt.Sprintf("--auth-password-secret: the pods start once Secret %s with key %q exists in their namespace "+
			"(kubectl create secret generic %s --from-file=%s=FILE); a new password changes the VRRP packets, see docs/migration.md",
			req.AuthPasswordSecret, AuthPasswordKey, req.AuthPasswordSecret, AuthPasswordKey))
	}
	return res, nil
}

// environment lists the container's variables in a fixed order. Defaults
// are written out, as the 3.x CLI did; a variable whose empty value would
// mean "unset" is left out instead of being written empty.
func environment(req Request, checkPath, notifyPath string) []corev1.EnvVar {
	var out []corev1.EnvVar
	add := func(name, value string, always bool) {
		if always || value != "" {
			out = append(out, corev1.EnvVar{Name: name, Value: value})
		}
	}
	add("OPENSHIFT_HA_CONFIG_NAME", req.Name, true)
	add("OPENSHIFT_HA_VIRTUAL_IPS", req.VirtualIPs, true)
	add("OPENSHIFT_HA_VIP_GROUPS", req.VirtualIPGroups, false)
	add("OPENSHIFT_HA_SELECTOR", req.Selector, false)
	add("OPENSHIFT_HA_NETWORK_INTERFACE", req.Interface, false)
	add("OPENSHIFT_HA_MONITOR_PORT", req.WatchPort, true)
	add("OPENSHIFT_HA_VRRP_ID_OFFSET", req.VRRPIDOffset, true)
	add("OPENSHIFT_HA_REPLICA_COUNT", req.Replicas, true)
	// Empty is meaningful here: no multicast rule.
	add("OPENSHIFT_HA_IPTABLES_CHAIN", req.IPTablesChain, true)
	add("OPENSHIFT_HA_CHECK_SCRIPT", checkPath, false)
	add("OPENSHIFT_HA_CHECK_INTERVAL", req.CheckInterval, true)
	add("OPENSHIFT_HA_NOTIFY_SCRIPT", notifyPath, false)
	add("OPENSHIFT_HA_PREEMPTION", req.Preemption, true)
	add("OPENSHIFT_HA_ADVERT_INTERVAL", req.AdvertInterval, true)
	if req.MetricsAddress != nil {
		// Empty is meaningful here: the server is off.
		add("OPENSHIFT_HA_METRICS_ADDRESS", *req.MetricsAddress, true)
	}
	if req.AuthPasswordSecret != "" {
		add("OPENSHIFT_HA_AUTH_PASSWORD_FILE", AuthPasswordDir+"/"+AuthPasswordKey, true)
	}
	add("OPENSHIFT_HA_KUBERNETES", req.Kubernetes, true)
	add("OPENSHIFT_HA_PEER_SELECTOR", req.PeerSelector, false)
	return out
}

// DownwardEnv is what the agent learns about itself from the downward API
// for the Kubernetes API features: its pod (the owner chain that gives the
// peers, and the object Events are recorded on), its pod's UID (so an
// Event never lands on a namesake that replaced it) and its node (the
// Events' source). deploy/ sets the same variables; a test compares them.
func DownwardEnv() []corev1.EnvVar {
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	return []corev1.EnvVar{
		field("POD_NAME", "metadata.name"),
		field("POD_NAMESPACE", "metadata.namespace"),
		field("POD_UID", "metadata.uid"),
		field("NODE_NAME", "spec.nodeName"),
	}
}

func environ(vars []corev1.EnvVar) []string {
	out := make([]string, len(vars))
	for i, v := range vars {
		out[i] = v.Name + "=" + v.Value
	}
	return out
}

// vridDocs is where the VRID warning's details are: why ranges must not
// overlap, how much room to leave, and why low offsets collide.
const vridDocs = "docs/operations.md#planning-vrids"

// vridWarnings states the configuration's VRID range on one short line:
// every keepalived whose adverts reach the same nodes (same segment, or the
// same unicast peers) and uses one of these VRIDs joins the same election,
// whatever its VIPs. The reasoning is in vridDocs, not in the line.
func vridWarnings(cfg env.Config) []string {
	if len(cfg.Groups) == 0 {
		return nil
	}
	lo, hi := cfg.Groups[0].VRID, cfg.Groups[len(cfg.Groups)-1].VRID
	rng, ids := strconv.Itoa(lo), "VRID"
	if hi != lo {
		rng, ids = rng+"-"+strconv.Itoa(hi), "VRIDs"
	}
	head := fmt.Sprintf("%s %s (--vrrp-id-offset=%d)", ids, rng, cfg.VRIDOffset)
	if cfg.VRIDOffset < vridHeadroomHint {
		return []string{fmt.Sprintf("%s: other VRRP setups crowd low VRIDs; use offset %d+ (%s)", head, vridHeadroomHint, vridDocs)}
	}
	return []string{fmt.Sprintf("%s must be unique on this network%s (%s)", head, nextOffsetHint(hi), vridDocs)}
}

// nextOffsetHint suggests an offset for the next configuration: the next
// multiple of ten above this one's highest VRID.
func nextOffsetHint(hi int) string {
	next := (hi/vridHeadroomHint + 1) * vridHeadroomHint
	if next > 254 {
		return ""
	}
	return fmt.Sprintf("; next free offset: %d", next)
}

// generator builds the objects of one Build.
type generator struct {
	req          Request
	cfg          env.Config
	env          []corev1.EnvVar
	nodeSelector map[string]string
	scripts      []script
}

func (g generator) labels() map[string]string {
	return map[string]string{
		labelKey:                     g.req.Name,
		"app.kubernetes.io/name":     "ipfailover",
		"app.kubernetes.io/instance": g.req.Name,
	}
}

func (g generator) meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: g.req.Namespace, Labels: g.labels()}
}

func (g generator) serviceAccount() *corev1.ServiceAccount {
	m := g.meta(g.req.ServiceAccount)
	return &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: m}
}

// kubernetes reports whether the agent may use the Kubernetes API, so the
// output needs the Role and the downward-API variables.
func (g generator) kubernetes() bool { return g.cfg.Kubernetes != env.KubernetesOff }

// apiRole is exactly what package kube uses (kube.RequiredRules), in the
// agent's namespace.
func (g generator) apiRole() *rbacv1.Role {
	return &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: g.meta(g.req.Name),
		Rules:      kube.RequiredRules(),
	}
}

// apiRoleBinding grants apiRole to the pods' service account. Without
// --namespace the subject has none either: a RoleBinding's service
// account subject then means the binding's own namespace, wherever
// kubectl apply -n puts it.
func (g generator) apiRoleBinding() *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: g.meta(g.req.Name),
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: g.req.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: g.req.ServiceAccount, Namespace: g.req.Namespace}},
	}
}

func (g generator) sccRoleBinding() *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: g.meta(g.req.Name + "-privileged-scc"),
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: sccClusterRole},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: g.req.ServiceAccount, Namespace: g.req.Namespace}},
	}
}

func (g generator) configMapName() string { return g.req.Name + "-scripts" }

func (g generator) configMap() *corev1.ConfigMap {
	data := map[string]string{}
	for _, s := range g.scripts {
		data[s.Key] = s.Content
	}
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: g.meta(g.configMapName()),
		Data:       data,
	}
}

// metricsPort returns the metrics port and the host the kubelet must probe
// ("" for the pod's, i.e. the node's, address); ok is false when the
// server is off.
func (g generator) metricsPort() (port int32, host string, ok bool) {
	if g.cfg.MetricsAddress == "" {
		return 0, "", false
	}
	h, p, err := net.SplitHostPort(g.cfg.MetricsAddress)
	if err != nil {
		return 0, "", false
	}
	n, err := strconv.ParseInt(p, 10, 32)
	if err != nil {
		return 0, "", false
	}
	if h == "0.0.0.0" || h == "::" {
		h = ""
	}
	return int32(n), h, true
}

// containerEnv is the configuration, then (unless --kubernetes=off) the
// downward-API variables.
func (g generator) containerEnv() []corev1.EnvVar {
	out := slices.Clone(g.env)
	if g.kubernetes() {
		out = append(out, DownwardEnv()...)
	}
	return out
}

func (g generator) podTemplate() corev1.PodTemplateSpec {
	c := corev1.Container{
		Name:            g.req.Name + "-keepalived",
		Image:           g.req.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Env:             g.containerEnv(),
		SecurityContext: &corev1.SecurityContext{
			Capabilities: &corev1.Capabilities{
				Add:  capabilities(),
				Drop: []corev1.Capability{"ALL"},
			},
			RunAsUser:                ptr(int64(0)),
			RunAsNonRoot:             ptr(false),
			AllowPrivilegeEscalation: ptr(false),
		},
		Resources: corev1.ResourceRequirements{
			// Requests only: a CPU-throttled or OOM-killed VRRP agent is a
			// failover, so no limits.
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("10m"),
				corev1.ResourceMemory: resource.MustParse("32Mi"),
			},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	if port, host, ok := g.metricsPort(); ok {
		// With host networking the declared port is also a host port, so
		// the scheduler never puts two pods listening on it on one node.
		c.Ports = []corev1.ContainerPort{{Name: "metrics", ContainerPort: port, HostPort: port, Protocol: corev1.ProtocolTCP}}
		probe := func(path string, period, failures int32) *corev1.Probe {
			return &corev1.Probe{
				ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("metrics"), Host: host}},
				PeriodSeconds:    period,
				TimeoutSeconds:   2,
				FailureThreshold: failures,
			}
		}
		// The agent may wait up to two minutes for its interface at start:
		// the startup probe allows that, liveness takes over afterwards.
		// Readiness is /readyz: config loaded and keepalived up.
		c.StartupProbe = probe("/healthz", 5, 30)
		c.LivenessProbe = probe("/healthz", 10, 3)
		c.ReadinessProbe = probe("/readyz", 5, 2)
	}
	spec := corev1.PodSpec{
		ServiceAccountName:            g.req.ServiceAccount,
		HostNetwork:                   true,
		DNSPolicy:                     corev1.DNSClusterFirstWithHostNet,
		NodeSelector:                  g.nodeSelector,
		TerminationGracePeriodSeconds: ptr(int64(terminationGraceSeconds)),
		Containers:                    []corev1.Container{c},
	}
	if g.req.Kind != KindDaemonSet {
		// Replaces the old hostPort 63000 trick: two pods of one
		// configuration on one node would fight over the same VRIDs.
		spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labelKey: g.req.Name}},
				TopologyKey:   "kubernetes.io/hostname",
			}},
		}}
	}
	if len(g.scripts) > 0 {
		spec.Volumes = append(spec.Volumes, corev1.Volume{
			Name: "scripts",
			VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: g.configMapName()},
				DefaultMode:          ptr(int32(0o755)),
			}},
		})
		spec.Containers[0].VolumeMounts = append(spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "scripts", MountPath: ScriptDir, ReadOnly: true})
	}
	if g.req.AuthPasswordSecret != "" {
		// Only the password key, readable by the agent (root) alone. A
		// missing Secret keeps the pod from starting, which beats running
		// with the wrong password. The kubelet updates the file in place
		// when the Secret changes; the agent re-reads it.
		spec.Volumes = append(spec.Volumes, corev1.Volume{
			Name: "auth-password",
			VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName:  g.req.AuthPasswordSecret,
				Items:       []corev1.KeyToPath{{Key: AuthPasswordKey, Path: AuthPasswordKey}},
				DefaultMode: ptr(int32(0o400)),
			}},
		})
		spec.Containers[0].VolumeMounts = append(spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "auth-password", MountPath: AuthPasswordDir, ReadOnly: true})
	}
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: g.labels()}, Spec: spec}
}

func (g generator) selector() *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{labelKey: g.req.Name}}
}

func (g generator) workload() any {
	replicas := int32(g.cfg.ReplicaCount)
	// One node at a time, never two pods of one configuration on a node:
	// the old pod hands its VIPs over (priority 0) before the new one
	// starts, and the next node waits until the new pod is ready.
	zero, one := intstr.FromInt32(0), intstr.FromInt32(1)
	switch g.req.Kind {
	case KindDaemonSet:
		return &appsv1.DaemonSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
			ObjectMeta: g.meta(g.req.Name),
			Spec: appsv1.DaemonSetSpec{
				Selector: g.selector(),
				Template: g.podTemplate(),
				UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
					Type:          appsv1.RollingUpdateDaemonSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &one, MaxSurge: &zero},
				},
				MinReadySeconds: minReadySeconds,
			},
		}
	case KindDeploymentConfig:
		return &DeploymentConfig{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps.openshift.io/v1", Kind: "DeploymentConfig"},
			ObjectMeta: g.meta(g.req.Name),
			Spec: DeploymentConfigSpec{
				Replicas: replicas,
				Selector: map[string]string{labelKey: g.req.Name},
				Strategy: DeploymentStrategy{
					Type:          "Rolling",
					RollingParams: &RollingDeploymentStrategyParams{MaxUnavailable: &one, MaxSurge: &zero},
				},
				MinReadySeconds: minReadySeconds,
				Triggers:        []DeploymentTriggerPolicy{{Type: "ConfigChange"}},
				Template:        ptr(g.podTemplate()),
			},
		}
	default:
		return &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: g.meta(g.req.Name),
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: g.selector(),
				Template: g.podTemplate(),
				Strategy: appsv1.DeploymentStrategy{
					Type:          appsv1.RollingUpdateDeploymentStrategyType,
					RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &one, MaxSurge: &zero},
				},
				MinReadySeconds: minReadySeconds,
			},
		}
	}
}

// Capabilities lists the only Linux capabilities the agent's container
// needs, without the CAP_ prefix: NET_ADMIN for addresses and the
// multicast rule, NET_RAW for the VRRP socket. keepalived runs no scripts
// (the agent runs the health check and the notify script itself), so it
// never needs CAP_SETGID for its script launcher's setgroups(). No host
// mounts, no module loading. The image test runs the image with exactly
// this set.
func Capabilities() []string { return []string{"NET_ADMIN", "NET_RAW"} }

func capabilities() []corev1.Capability {
	var out []corev1.Capability
	for _, c := range Capabilities() {
		out = append(out, corev1.Capability(c))
	}
	return out
}

func ptr[T any](v T) *T { return &v }
