package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/ipfailover/ipfailover/e2e/lab"
	"github.com/ipfailover/ipfailover/internal/kapitest"
	"github.com/ipfailover/ipfailover/kube"
	"github.com/ipfailover/ipfailover/manifests"
)

// The Kubernetes lab: a lab whose segment also carries a real
// kube-apiserver (with its etcd, package kapitest) in a namespace of its
// own, holding what a cluster would for the agents: a Deployment, its
// ReplicaSet, one pod per node with the node's address as status.hostIP
// (no kubelet runs; the test writes the status), service accounts with
// and without the Role that `ipfailover manifests` generates, and their
// tokens. Each agent gets in-cluster credentials exactly where client-go
// looks for them and the downward-API variables deploy/ sets, so it sees
// the same API as in a cluster, reached over the lab's bridge.

const (
	// kubeAPIHost is the API server's last octet on the lab's segment,
	// clear of the nodes (.11-.19), the client (.100) and the VIPs the
	// tests use (.200 and up).
	kubeAPIHost = 90
	// kubeNamespace holds the workload, its pods and their Events.
	kubeNamespace = "ipfailover-e2e"
	// kubeWorkload names the Deployment; its ReplicaSet and pods derive
	// their names from it as the controllers would.
	kubeWorkload = "ipf"
	kubeRSHash   = "7c9d5f8b6"
	// kubeSA has the generator's Role; kubeSANoRole has no binding at all.
	kubeSA       = "ipfailover"
	kubeSANoRole = "no-role"
)

// kubeLabels are the workload's pod labels (and its selector, with the
// ReplicaSet's pod-template-hash added on the pods).
var kubeLabels = map[string]string{"ipfailover": "e2e"}

// kubeLab is a lab with a Kubernetes API server on its segment.
type kubeLab struct {
	lab *lab.Lab
	api *lab.Endpoint
	srv *kapitest.Server
	cs  kubernetes.Interface // admin
	rs  *appsv1.ReplicaSet
	dir string // the credentials' directories, for the whole test

	mu    sync.Mutex
	creds map[string]string // service account -> directory with token, ca.crt, namespace
	pods  map[string]*corev1.Pod
}

// startKubeLab builds a lab of n nodes, starts the API server on its
// bridge and creates the workload's objects, without pods (createPod) and
// without agents (startKubeAgent). It skips without the lab's
// prerequisites or the API server binaries (make kapi).
func startKubeLab(t *testing.T, n int) *kubeLab {
	t.Helper()
	if _, err := kapitest.Dir(); err != nil {
		t.Skipf("Kubernetes e2e tests skipped: %v", err)
	}
	l := newLab(t, n)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	api, err := l.AddEndpoint(ctx, "api", kubeAPIHost)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	srv, err := kapitest.Launch(t.TempDir(), kapitest.Options{Address: api.IPv4, Netns: api.NS, Dial: api.Dial})
	if srv != nil {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("kube-apiserver log (tail):\n%s", srv.LogTail(30))
			}
			srv.Close()
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver ready at %s (in %s) after %s", srv.URL(), api.NS, time.Since(t0).Round(time.Millisecond))
	k := &kubeLab{lab: l, dir: t.TempDir(), api: api, srv: srv, cs: kubernetes.NewForConfigOrDie(srv.Admin),
		creds: map[string]string{}, pods: map[string]*corev1.Pod{}}
	k.createWorkload(ctx, t)
	return k
}

// createWorkload creates the namespace, the Deployment and its ReplicaSet
// (owned by it, as the Deployment controller would), the service accounts,
// and the Role and RoleBinding exactly as `ipfailover manifests` prints
// them (without --namespace: the RoleBinding's subject then means the
// binding's own namespace).
func (k *kubeLab) createWorkload(ctx context.Context, t *testing.T) {
	t.Helper()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(k.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: kubeNamespace}}, metav1.CreateOptions{}))
	tmpl := func(labels map[string]string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       corev1.PodSpec{ServiceAccountName: kubeSA, HostNetwork: true, Containers: []corev1.Container{{Name: "agent", Image: "ipfailover/ipfailover"}}},
		}
	}
	d, err := k.cs.AppsV1().Deployments(kubeNamespace).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: kubeWorkload, Labels: kubeLabels},
		Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: kubeLabels}, Template: tmpl(kubeLabels)},
	}, metav1.CreateOptions{})
	must(d, err)
	rsLabels := map[string]string{"pod-template-hash": kubeRSHash}
	for key, v := range kubeLabels {
		rsLabels[key] = v
	}
	k.rs, err = k.cs.AppsV1().ReplicaSets(kubeNamespace).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: kubeWorkload + "-" + kubeRSHash, Labels: rsLabels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: ptrTo(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: rsLabels}, Template: tmpl(rsLabels)},
	}, metav1.CreateOptions{})
	must(k.rs, err)
	for _, sa := range []string{kubeSA, kubeSANoRole} {
		must(k.cs.CoreV1().ServiceAccounts(kubeNamespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}))
	}

	req := manifests.NewRequest()
	req.Name, req.VirtualIPs, req.ServiceAccount = kubeWorkload, "192.0.2.200", kubeSA
	res, err := manifests.Build(req)
	if err != nil {
		t.Fatal(err)
	}
	var roles, bindings int
	for _, o := range res.Objects {
		switch v := o.(type) {
		case *rbacv1.Role:
			must(k.cs.RbacV1().Roles(kubeNamespace).Create(ctx, v, metav1.CreateOptions{}))
			roles++
		case *rbacv1.RoleBinding:
			must(k.cs.RbacV1().RoleBindings(kubeNamespace).Create(ctx, v, metav1.CreateOptions{}))
			bindings++
		}
	}
	if roles != 1 || bindings != 1 {
		t.Fatalf("ipfailover manifests printed %d Roles and %d RoleBindings, want one each", roles, bindings)
	}
}

func ptrTo[T any](v T) *T { return &v }

// podName is the name of node n's pod.
func podName(n *lab.Node) string { return kubeWorkload + "-" + kubeRSHash + "-" + n.Name }

// createPod creates node n's pod, owned by the ReplicaSet, scheduled on n
// and running there with n's IPv4 address as host IP, as the scheduler
// and the kubelet would record it.
func (k *kubeLab) createPod(t *testing.T, n *lab.Node) *corev1.Pod {
	t.Helper()
	ctx := t.Context()
	spec := k.rs.Spec.Template.Spec
	spec.NodeName = n.Name
	p, err := k.cs.CoreV1().Pods(kubeNamespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: podName(n), Labels: k.rs.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: k.rs.Name, UID: k.rs.UID, Controller: ptrTo(true)}}},
		Spec: spec,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.HostIP = n.IPv4.String()
	p.Status.HostIPs = []corev1.HostIP{{IP: n.IPv4.String()}}
	p.Status.PodIP, p.Status.PodIPs = p.Status.HostIP, []corev1.PodIP{{IP: n.IPv4.String()}}
	if p, err = k.cs.CoreV1().Pods(kubeNamespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	k.mu.Lock()
	k.pods[n.Name] = p
	k.mu.Unlock()
	return p
}

// createPods creates every node's pod.
func (k *kubeLab) createPods(t *testing.T) {
	for _, n := range k.lab.Nodes {
		k.createPod(t, n)
	}
}

// deletePod deletes node n's pod object at once (grace period 0: there is
// no kubelet to confirm a graceful deletion).
func (k *kubeLab) deletePod(t *testing.T, n *lab.Node) {
	t.Helper()
	if err := k.cs.CoreV1().Pods(kubeNamespace).Delete(t.Context(), podName(n), metav1.DeleteOptions{GracePeriodSeconds: ptrTo(int64(0))}); err != nil {
		t.Fatal(err)
	}
	k.mu.Lock()
	delete(k.pods, n.Name)
	k.mu.Unlock()
}

// pod returns node n's pod as created, or nil.
func (k *kubeLab) pod(n *lab.Node) *corev1.Pod {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.pods[n.Name]
}

// credentials returns a directory with what the kubelet mounts at
// kube.ServiceAccountDir for a pod of service account sa: a token (one
// hour), the cluster's CA and the namespace.
func (k *kubeLab) credentials(t *testing.T, sa string) string {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	if d, ok := k.creds[sa]; ok {
		return d
	}
	tr, err := k.cs.CoreV1().ServiceAccounts(kubeNamespace).CreateToken(t.Context(), sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptrTo(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(k.srv.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: a subtest's would vanish while later phases' agents
	// still mount it.
	d := filepath.Join(k.dir, sa)
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"token": []byte(tr.Status.Token), "ca.crt": ca, "namespace": []byte(kubeNamespace)} {
		if err := os.WriteFile(filepath.Join(d, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	k.creds[sa] = d
	return d
}

// podEnv is what a pod of node n gets besides the OPENSHIFT_HA_* settings:
// the service's address as the kubelet injects it and the downward-API
// variables deploy/ sets (manifests.DownwardEnv).
func (k *kubeLab) podEnv(t *testing.T, n *lab.Node) []string {
	t.Helper()
	p := k.pod(n)
	if p == nil {
		t.Fatalf("node %s has no pod: createPod first", n.Name)
	}
	ap := k.srv.AddrPort()
	env := []string{"KUBERNETES_SERVICE_HOST=" + ap.Addr().String(), "KUBERNETES_SERVICE_PORT=" + strconv.Itoa(int(ap.Port()))}
	values := map[string]string{"metadata.name": p.Name, "metadata.namespace": p.Namespace, "metadata.uid": string(p.UID), "spec.nodeName": p.Spec.NodeName}
	for _, e := range manifests.DownwardEnv() {
		v, ok := values[e.ValueFrom.FieldRef.FieldPath]
		if !ok {
			t.Fatalf("downward-API variable %s: field %s unknown to the e2e lab", e.Name, e.ValueFrom.FieldRef.FieldPath)
		}
		env = append(env, e.Name+"="+v)
	}
	return env
}

// podSpec wraps argv as node n's pod would run it: the credentials of
// service account sa mounted at kube.ServiceAccountDir, the pod's
// environment plus env.
func (k *kubeLab) podSpec(t *testing.T, n *lab.Node, sa string, argv []string, env []string) lab.Spec {
	return lab.WithBinds(lab.Spec{Argv: argv, Env: append(k.podEnv(t, n), env...)},
		lab.Bind{Source: k.credentials(t, sa), Target: kube.ServiceAccountDir})
}

// startKubeAgent starts `ipfailover run` on node n as the pod of service
// account sa would run it.
func (k *kubeLab) startKubeAgent(t *testing.T, n *lab.Node, sa, vips string, extra map[string]string) {
	t.Helper()
	if err := n.Start(k.podSpec(t, n, sa, []string{agentBinary(t), "run"}, agentEnv(k.lab, vips, extra))); err != nil {
		t.Fatal(err)
	}
}

// startKubeAgents starts an agent on every node.
func (k *kubeLab) startKubeAgents(t *testing.T, sa, vips string, extra map[string]string) {
	t.Helper()
	for _, n := range k.lab.Nodes {
		k.startKubeAgent(t, n, sa, vips, extra)
	}
}

// stopAgents stops every running node process gracefully.
func (k *kubeLab) stopAgents(t *testing.T) {
	t.Helper()
	var errs []<-chan error
	for _, n := range k.lab.Nodes {
		if n.Running() {
			errs = append(errs, stopAsync(n, 10*time.Second))
		}
	}
	for _, c := range errs {
		if err := <-c; err != nil {
			t.Errorf("stopping an agent: %v", err)
		}
	}
}

// stopAPI kills kube-apiserver (etcd keeps the data), as a lost control
// plane would; startAPI brings it back on the same address.
func (k *kubeLab) stopAPI() { k.srv.StopAPIServer() }

func (k *kubeLab) startAPI(t *testing.T) {
	t.Helper()
	if err := k.srv.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
}

// events lists the Events recorded on node n's pod.
func (k *kubeLab) events(ctx context.Context, n *lab.Node) ([]corev1.Event, error) {
	l, err := k.cs.CoreV1().Events(kubeNamespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.name", podName(n)).String(),
	})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// kubeFeaturesOn is the line the agent logs when it uses the API.
const kubeFeaturesOn = "Kubernetes API features on"

// requireAgentKube waits until node n's agent says whether it uses the
// Kubernetes API. An agent that says nothing predates the wiring of package
// kube into the agent: the test is skipped with that reason. (`run --help`
// cannot tell: it lists OPENSHIFT_HA_KUBERNETES since package env reads it,
// whether or not the agent acts on it.)
func requireAgentKube(t *testing.T, n *lab.Node) {
	t.Helper()
	var off string
	err := lab.Poll(t.Context(), 15*time.Second, 100*time.Millisecond, func() error {
		b, err := os.ReadFile(n.LogPath())
		if err != nil {
			return err
		}
		s := string(b)
		if strings.Contains(s, kubeFeaturesOn) {
			return nil
		}
		if i := strings.Index(s, "Kubernetes API features off"); i >= 0 {
			off = firstLine(s[i:])
			return nil
		}
		return fmt.Errorf("no line about the Kubernetes API features in %s's log", n.Name)
	})
	switch {
	case off != "":
		t.Fatalf("%s: the agent has in-cluster credentials but turned the Kubernetes API features off: %s", n.Name, off)
	case err != nil:
		t.Skipf("needs the agent's Kubernetes wiring: %v (the agent never mentions %q)", err, kubeFeaturesOn)
	}
}

// unicastPeers returns every vrrp_instance's unicast_peer addresses from
// node n's keepalived.conf, keyed by instance name (none: multicast).
func unicastPeers(n *lab.Node) (map[string][]netip.Addr, error) {
	b, err := n.ReadFile("/etc/keepalived/keepalived.conf")
	if err != nil {
		return nil, err
	}
	out := map[string][]netip.Addr{}
	var inst string
	inPeers := false
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 0:
		case f[0] == "vrrp_instance" && len(f) > 1:
			inst, inPeers = f[1], false
		case f[0] == "unicast_peer":
			inPeers = true
			out[inst] = []netip.Addr{}
		case inPeers && f[0] == "}":
			inPeers = false
		case inPeers:
			a, err := netip.ParseAddr(f[0])
			if err != nil {
				return nil, fmt.Errorf("%s: instance %s: unicast peer %q: %w", n.Name, inst, f[0], err)
			}
			out[inst] = append(out[inst], a)
		}
	}
	for _, ps := range out {
		slices.SortFunc(ps, netip.Addr.Compare)
	}
	return out, nil
}

// waitPeers waits until every instance in node n's keepalived.conf has
// exactly want (sorted) as unicast peers, and returns how long it took.
func waitPeers(t *testing.T, n *lab.Node, want []netip.Addr, timeout time.Duration) time.Duration {
	t.Helper()
	t0 := time.Now()
	var last map[string][]netip.Addr
	err := lab.Poll(t.Context(), timeout, 50*time.Millisecond, func() error {
		ps, err := unicastPeers(n)
		if err != nil {
			return err
		}
		last = ps
		if len(ps) == 0 {
			return fmt.Errorf("%s: no instance has unicast peers", n.Name)
		}
		for inst, got := range ps {
			if !slices.Equal(got, want) {
				return fmt.Errorf("%s: instance %s has peers %v, want %v", n.Name, inst, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v (last: %v)", err, last)
	}
	return time.Since(t0)
}

// ipv4s returns the nodes' IPv4 addresses, sorted.
func ipv4s(nodes ...*lab.Node) []netip.Addr {
	var out []netip.Addr
	for _, n := range nodes {
		out = append(out, n.IPv4)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// metric reads one unlabelled sample from node n's /metrics (served on
// statusPort); ok is false when the series is absent.
func metric(t *testing.T, n *lab.Node, name string) (v float64, ok bool, err error) {
	code, body, err := n.HTTPGet(t.Context(), fmt.Sprintf("http://127.0.0.1:%d/metrics", statusPort), 2*time.Second)
	if err != nil {
		return 0, false, err
	}
	if code != 200 {
		return 0, false, fmt.Errorf("%s /metrics: HTTP %d", n.Name, code)
	}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			return v, err == nil, err
		}
	}
	return 0, false, nil
}

// waitMetric waits until name has value want on every node given.
func waitMetric(t *testing.T, name string, want float64, timeout time.Duration, nodes ...*lab.Node) time.Duration {
	t.Helper()
	t0 := time.Now()
	err := lab.Poll(t.Context(), timeout, 100*time.Millisecond, func() error {
		for _, n := range nodes {
			v, ok, err := metric(t, n, name)
			switch {
			case err != nil:
				return err
			case !ok:
				return fmt.Errorf("%s: no %s", n.Name, name)
			case v != want:
				return fmt.Errorf("%s: %s = %v, want %v", n.Name, name, v, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return time.Since(t0)
}

// holdingRecorder samples the VIP placement in the background and keeps
// every placement that differs from the previous one.
type holdingRecorder struct {
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	changes []string
	last    string
}

func recordHolding(l *lab.Lab, vips []netip.Addr, period time.Duration) *holdingRecorder {
	r := &holdingRecorder{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			if h, err := l.Holders(vips); err == nil {
				s := h.String()
				r.mu.Lock()
				if s != r.last {
					r.changes = append(r.changes, time.Now().Format("15:04:05.000")+" "+s)
					r.last = s
				}
				r.mu.Unlock()
			}
			select {
			case <-r.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return r
}

// Stop ends sampling and returns the placements seen, the first being the
// one at the start.
func (r *holdingRecorder) Stop() []string {
	close(r.stop)
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.changes)
}
