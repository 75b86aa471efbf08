package kube

// Tests against a real kube-apiserver (kapitest): they skip when the
// binaries are missing (make kapi).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ipfailover/ipfailover/internal/kapitest"
)

var quiet = slog.New(slog.DiscardHandler)

func TestMain(m *testing.M) {
	// client-go logs through klog; keep test output to what tests log.
	RouteKlog(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

// logBuf is a concurrency-safe log sink for asserting on log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) count(sub string) int { return strings.Count(l.String(), sub) }

func testLogger(t *testing.T) (*slog.Logger, *logBuf) {
	lb := &logBuf{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", lb.String())
		}
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// cluster is a namespace on a test API server, with helpers that create
// what a controller-manager and kubelets would.
type cluster struct {
	t   *testing.T
	srv *kapitest.Server
	cs  kubernetes.Interface
	ns  string
	ctx context.Context
}

func newCluster(t *testing.T, srv *kapitest.Server) *cluster {
	t.Helper()
	c := &cluster{t: t, srv: srv, cs: kubernetes.NewForConfigOrDie(srv.Admin), ctx: context.Background()}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	c.ns = "ipf-" + hex.EncodeToString(b)
	if _, err := c.cs.CoreV1().Namespaces().Create(c.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return c
}

func controller(kind, apiVersion string, o metav1.Object) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{Kind: kind, APIVersion: apiVersion, Name: o.GetName(), UID: o.GetUID(), Controller: &yes}}
}

func template(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "ipfailover"}}},
	}
}

func (c *cluster) deployment(name string, labels map[string]string) *appsv1.Deployment {
	c.t.Helper()
	d, err := c.cs.AppsV1().Deployments(c.ns).Create(c.ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template(labels)},
	}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return d
}

// replicaSet creates a ReplicaSet of d, as the Deployment controller
// would: the Deployment's labels plus a pod-template-hash.
func (c *cluster) replicaSet(d *appsv1.Deployment, hash string) *appsv1.ReplicaSet {
	c.t.Helper()
	labels := map[string]string{"pod-template-hash": hash}
	for k, v := range d.Spec.Selector.MatchLabels {
		labels[k] = v
	}
	rs, err := c.cs.AppsV1().ReplicaSets(c.ns).Create(c.ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-" + hash, Labels: labels, OwnerReferences: controller("Deployment", "apps/v1", d)},
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template(labels)},
	}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return rs
}

func (c *cluster) daemonSet(name string, labels map[string]string) *appsv1.DaemonSet {
	c.t.Helper()
	ds, err := c.cs.AppsV1().DaemonSets(c.ns).Create(c.ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template(labels)},
	}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return ds
}

// pod creates a pod and, when hostIPs are given, sets its status as a
// kubelet would (there is none).
func (c *cluster) pod(name string, labels map[string]string, owners []metav1.OwnerReference, hostIPs ...string) *corev1.Pod {
	c.t.Helper()
	spec := template(labels).Spec
	spec.NodeName = "node-" + name
	p, err := c.cs.CoreV1().Pods(c.ns).Create(c.ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, OwnerReferences: owners},
		Spec:       spec,
	}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	if len(hostIPs) == 0 {
		return p
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.HostIP = hostIPs[0]
	for _, h := range hostIPs {
		p.Status.HostIPs = append(p.Status.HostIPs, corev1.HostIP{IP: h})
	}
	p, err = c.cs.CoreV1().Pods(c.ns).UpdateStatus(c.ctx, p, metav1.UpdateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

func (c *cluster) deletePod(name string) {
	c.t.Helper()
	zero := int64(0)
	if err := c.cs.CoreV1().Pods(c.ns).Delete(c.ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) target(cfg *rest.Config, pod string) Target {
	return Target{Config: cfg, Namespace: c.ns, PodName: pod}
}

// watch starts a watcher and stops it at the end of the test.
func watch(t *testing.T, o WatcherOptions) *Watcher {
	t.Helper()
	w, err := NewWatcher(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("watcher did not stop")
		}
	})
	return w
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitPeers(t *testing.T, w *Watcher, limit time.Duration, want ...string) {
	t.Helper()
	eventually(t, limit, fmt.Sprintf("peers %v, want %v", w.Peers(), want), func() bool {
		return w.Synced() && slices.Equal(w.Peers(), addrs(want...))
	})
}

// TestAPI runs the tests that can share one API server, each in its own
// namespace.
func TestAPI(t *testing.T) {
	srv := kapitest.Start(t, kapitest.Options{})
	t.Run("Deployment", func(t *testing.T) { testDeployment(t, srv) })
	t.Run("SelectorOverride", func(t *testing.T) { testSelectorOverride(t, srv) })
	t.Run("DaemonSet", func(t *testing.T) { testDaemonSet(t, srv) })
	t.Run("DeploymentConfig", func(t *testing.T) { testDeploymentConfig(t, srv) })
	t.Run("Events", func(t *testing.T) { testEvents(t, srv) })
	t.Run("NoRBAC", func(t *testing.T) { testNoRBAC(t, srv) })
	t.Run("RequiredRulesSuffice", func(t *testing.T) { testRequiredRules(t, srv) })
}

// A Deployment mid-rollout: pods of the old and the new ReplicaSet are
// peers, an unrelated pod and a pod not yet scheduled are not.
func testDeployment(t *testing.T, srv *kapitest.Server) {
	c := newCluster(t, srv)
	app := map[string]string{"app": "ipf"}
	d := c.deployment("ipf", app)
	oldRS, newRS := c.replicaSet(d, "old"), c.replicaSet(d, "new")
	own := c.pod("ipf-new-a", newRS.Spec.Template.Labels, controller("ReplicaSet", "apps/v1", newRS), "10.1.0.1")
	c.pod("ipf-old-b", oldRS.Spec.Template.Labels, controller("ReplicaSet", "apps/v1", oldRS), "10.1.0.2")
	c.pod("ipf-new-c", newRS.Spec.Template.Labels, controller("ReplicaSet", "apps/v1", newRS), "10.1.0.3", "fd00::3")
	c.pod("ipf-new-pending", newRS.Spec.Template.Labels, controller("ReplicaSet", "apps/v1", newRS))
	c.pod("other", map[string]string{"app": "other"}, nil, "10.9.9.9")

	log, lb := testLogger(t)
	start := time.Now()
	w := watch(t, WatcherOptions{Target: c.target(srv.Admin, own.Name), Logger: log})
	waitPeers(t, w, 10*time.Second, "10.1.0.1", "10.1.0.2", "10.1.0.3", "fd00::3")
	t.Logf("first peer set after %s", time.Since(start).Round(time.Millisecond))
	st := w.Status()
	if !w.Up() || st.State != StateUp || st.Owner != `Deployment ipf (selector "app=ipf")` || w.Changes() != 1 {
		t.Fatalf("up %v, changes %d, status %+v", w.Up(), w.Changes(), st)
	}
	select {
	case <-w.Changed():
	default:
		t.Fatal("no change signalled for the first set")
	}

	// A pod goes away (rollout, drain): gone from the peers within 5 s.
	start = time.Now()
	c.deletePod("ipf-old-b")
	waitPeers(t, w, 5*time.Second, "10.1.0.1", "10.1.0.3", "fd00::3")
	t.Logf("deletion seen after %s", time.Since(start).Round(time.Millisecond))
	<-w.Changed()

	// A new pod: a peer once scheduled (host IP set), not before.
	p := c.pod("ipf-new-d", newRS.Spec.Template.Labels, controller("ReplicaSet", "apps/v1", newRS))
	time.Sleep(3 * DefaultDebounce)
	if got := w.Changes(); got != 2 {
		t.Fatalf("an unscheduled pod changed the peers: %d changes, %v", got, w.Peers())
	}
	p.Status.Phase, p.Status.HostIP, p.Status.HostIPs = corev1.PodRunning, "10.1.0.4", []corev1.HostIP{{IP: "10.1.0.4"}}
	if _, err := c.cs.CoreV1().Pods(c.ns).UpdateStatus(c.ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPeers(t, w, 5*time.Second, "10.1.0.1", "10.1.0.3", "10.1.0.4", "fd00::3")

	// Several changes within the debounce window publish once.
	before := w.Changes()
	c.deletePod("ipf-new-c")
	c.pod("ipf-new-e", newRS.Spec.Template.Labels, controller("ReplicaSet", "apps/v1", newRS), "10.1.0.5")
	waitPeers(t, w, 5*time.Second, "10.1.0.1", "10.1.0.4", "10.1.0.5")
	if n := w.Changes() - before; n > 2 {
		t.Errorf("%d published changes for two quick pod changes", n)
	}
	if n := lb.count("kubernetes API"); n != 0 {
		t.Errorf("reachability logged %d times while the API was up:\n%s", n, lb)
	}
}

// OPENSHIFT_HA_PEER_SELECTOR replaces the owner's selector: no owner
// lookup, so a pod without an owner works too.
func testSelectorOverride(t *testing.T, srv *kapitest.Server) {
	c := newCluster(t, srv)
	d := c.deployment("ipf", map[string]string{"app": "ipf"})
	rs := c.replicaSet(d, "h")
	c.pod("ipf-a", rs.Spec.Template.Labels, controller("ReplicaSet", "apps/v1", rs), "10.2.0.1")
	c.pod("edge-1", map[string]string{"tier": "edge", "zone": "a"}, nil, "10.2.1.1")
	c.pod("edge-2", map[string]string{"tier": "edge", "zone": "b"}, nil, "10.2.1.2")
	c.pod("edge-3", map[string]string{"tier": "edge", "zone": "c"}, nil, "10.2.1.3")
	w := watch(t, WatcherOptions{Target: c.target(srv.Admin, "edge-1"), Selector: "tier=edge,zone in (a,b)", Logger: quiet})
	waitPeers(t, w, 10*time.Second, "10.2.1.1", "10.2.1.2")
	if st := w.Status(); st.Owner != `selector "tier=edge,zone in (a,b)"` {
		t.Errorf("status %+v", st)
	}

	// Without the override the same bare pod has no owner: off, one line.
	log, lb := testLogger(t)
	w2 := watch(t, WatcherOptions{Target: c.target(srv.Admin, "edge-1"), Logger: log})
	eventually(t, 10*time.Second, "bare pod: watcher not off", func() bool { off, _ := w2.Off(); return off })
	if _, why := w2.Off(); !strings.Contains(why, "OPENSHIFT_HA_PEER_SELECTOR") || lb.count("kubernetes API features off") != 1 {
		t.Fatalf("reason %q, log:\n%s", why, lb)
	}
}

func testDaemonSet(t *testing.T, srv *kapitest.Server) {
	c := newCluster(t, srv)
	labels := map[string]string{"app": "ipf-ds"}
	ds := c.daemonSet("ipf", labels)
	for i := 1; i <= 3; i++ {
		c.pod(fmt.Sprintf("ipf-%d", i), labels, controller("DaemonSet", "apps/v1", ds), fmt.Sprintf("10.3.0.%d", i))
	}
	c.pod("stray", labels, nil) // matches, not scheduled
	w := watch(t, WatcherOptions{Target: c.target(srv.Admin, "ipf-2"), Logger: quiet})
	waitPeers(t, w, 10*time.Second, "10.3.0.1", "10.3.0.2", "10.3.0.3")
	if st := w.Status(); st.Owner != `DaemonSet ipf (selector "app=ipf-ds")` {
		t.Errorf("status %+v", st)
	}
}

// A DeploymentConfig's ReplicationControllers during a rollout: pods of
// both RCs are peers (the per-RC "deployment" label is dropped).
func testDeploymentConfig(t *testing.T, srv *kapitest.Server) {
	c := newCluster(t, srv)
	var rcs []*corev1.ReplicationController
	for _, n := range []string{"router-1", "router-2"} {
		sel := map[string]string{"router": "ha", "deploymentconfig": "router", "deployment": n}
		rc, err := c.cs.CoreV1().ReplicationControllers(c.ns).Create(c.ctx, &corev1.ReplicationController{
			ObjectMeta: metav1.ObjectMeta{Name: n, Annotations: map[string]string{dcAnnotation: "router"}},
			Spec:       corev1.ReplicationControllerSpec{Selector: sel, Template: ptr(template(sel))},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rcs = append(rcs, rc)
	}
	c.pod("router-1-a", rcs[0].Spec.Selector, controller("ReplicationController", "v1", rcs[0]), "10.4.0.1")
	c.pod("router-2-a", rcs[1].Spec.Selector, controller("ReplicationController", "v1", rcs[1]), "10.4.0.2")
	c.pod("other-dc", map[string]string{"router": "ha", "deploymentconfig": "other", "deployment": "other-1"}, nil, "10.4.9.9")
	w := watch(t, WatcherOptions{Target: c.target(srv.Admin, "router-2-a"), Logger: quiet})
	waitPeers(t, w, 10*time.Second, "10.4.0.1", "10.4.0.2")
	if st := w.Status(); st.Owner != `DeploymentConfig router (selector "deploymentconfig=router,router=ha")` {
		t.Errorf("status %+v", st)
	}
}

func ptr[T any](v T) *T { return &v }

// podEvents lists the Events whose involvedObject is the pod.
func (c *cluster) podEvents(pod string) []corev1.Event {
	c.t.Helper()
	l, err := c.cs.CoreV1().Events(c.ns).List(c.ctx, metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.kind": "Pod", "involvedObject.name": pod}.String(),
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return l.Items
}

func findEvent(evs []corev1.Event, reason string) *corev1.Event {
	for i := range evs {
		if evs[i].Reason == reason {
			return &evs[i]
		}
	}
	return nil
}

func newRecorder(t *testing.T, o RecorderOptions) *Recorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r, err := NewRecorder(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testEvents(t *testing.T, srv *kapitest.Server) {
	c := newCluster(t, srv)
	p := c.pod("ipf-a", map[string]string{"app": "ipf"}, nil, "10.5.0.1")
	r := newRecorder(t, RecorderOptions{Target: c.target(srv.Admin, p.Name), NodeName: "node-a", Logger: quiet})
	eventually(t, 10*time.Second, "pod UID not looked up", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.ref.UID == p.UID
	})
	r.Transition(Transition{Instance: "ipf_VIP_1", VRID: 51, State: "master",
		VIPs: []netip.Prefix{netip.MustParsePrefix("10.5.1.1/32"), netip.MustParsePrefix("10.5.2.0/30")}, Reason: "peer 10.5.0.2 stopped advertising"})
	r.Transition(Transition{Instance: "ipf_VIP_2", State: "FAULT", Reason: "check failed"})
	r.Transition(Transition{Instance: "ipf_VIP_3", State: "STOP"}) // not an event
	r.KeepalivedRestarted("exited with status 1")
	r.CheckFailing("check script /etc/check.sh: exit status 2")
	r.VRIDConflict("VRID 51: 10.5.0.9 advertises other VIPs")
	r.VRIDConflict("VRID 51: 10.5.0.9 advertises other VIPs") // a repeat: counted on the same Event

	want := map[string]struct{ kind, msg string }{
		ReasonVIPMaster:           {corev1.EventTypeNormal, "ipf_VIP_1 (VRID 51) is MASTER for 10.5.1.1, 10.5.2.0/30: peer 10.5.0.2 stopped advertising"},
		ReasonVIPFault:            {corev1.EventTypeWarning, "ipf_VIP_2 is FAULT: check failed"},
		ReasonKeepalivedRestarted: {corev1.EventTypeWarning, "keepalived restarted: exited with status 1"},
		ReasonCheckFailing:        {corev1.EventTypeWarning, "check script /etc/check.sh: exit status 2"},
		ReasonVRIDConflict:        {corev1.EventTypeWarning, "VRID 51: 10.5.0.9 advertises other VIPs"},
	}
	eventually(t, 10*time.Second, "events not all written", func() bool {
		evs := c.podEvents(p.Name)
		for reason := range want {
			if findEvent(evs, reason) == nil {
				return false
			}
		}
		e := findEvent(evs, ReasonVRIDConflict)
		return e.Count == 2
	})
	evs := c.podEvents(p.Name)
	if len(evs) != len(want) {
		t.Errorf("%d events, want %d: %+v", len(evs), len(want), evs)
	}
	for reason, w := range want {
		e := findEvent(evs, reason)
		io := e.InvolvedObject
		if e.Type != w.kind || e.Message != w.msg || io.Kind != "Pod" || io.APIVersion != "v1" || io.Name != p.Name ||
			io.Namespace != c.ns || io.UID != p.UID || e.Source.Component != EventComponent || e.Source.Host != "node-a" {
			t.Errorf("%s: got %s %q on %+v from %+v", reason, e.Type, e.Message, io, e.Source)
		}
	}
	if st := r.Stats(); st.Emitted != 6 || st.Dropped != 0 || st.Failed != 0 || r.Off() {
		t.Errorf("stats %+v, off %v", st, r.Off())
	}
}

// The restricted user has no RBAC: the watcher and the recorder turn off,
// each with one log line that says what to grant.
func testNoRBAC(t *testing.T, srv *kapitest.Server) {
	c := newCluster(t, srv)
	d := c.deployment("ipf", map[string]string{"app": "ipf"})
	rs := c.replicaSet(d, "h")
	c.pod("ipf-a", rs.Spec.Template.Labels, controller("ReplicaSet", "apps/v1", rs), "10.6.0.1")
	for _, sel := range []string{"", "app=ipf"} { // the override skips the owner lookup: the list is refused
		t.Run("selector="+sel, func(t *testing.T) {
			log, lb := testLogger(t)
			w := watch(t, WatcherOptions{Target: c.target(srv.Restricted, "ipf-a"), Selector: sel, Logger: log})
			eventually(t, 10*time.Second, "watcher not off", func() bool { off, _ := w.Off(); return off })
			time.Sleep(time.Second) // no second line later
			_, why := w.Off()
			lines := strings.Split(strings.TrimSpace(lb.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], "kubernetes API features off: pods") ||
				!strings.Contains(lines[0], "is forbidden: User \\\"restricted\\\"") || !strings.Contains(lines[0], "grant the Role in deploy/") {
				t.Fatalf("log:\n%s", lb)
			}
			if st := w.Status(); st.State != StateOff || st.Reason != why || w.Up() || w.Synced() {
				t.Fatalf("status %+v", st)
			}
			if n := testutil.CollectAndCount(NewCollector(w)); n != 0 {
				t.Errorf("off watcher exports %d series", n)
			}
		})
	}
	log, lb := testLogger(t)
	r := newRecorder(t, RecorderOptions{Target: c.target(srv.Restricted, "ipf-a"), Logger: log})
	r.KeepalivedRestarted("test")
	eventually(t, 10*time.Second, "recorder not off", r.Off)
	r.KeepalivedRestarted("test again")
	if lb.count("kubernetes events off: events is forbidden") != 1 || r.Stats().Dropped != 1 {
		t.Fatalf("stats %+v, log:\n%s", r.Stats(), lb)
	}
}

// A Role with exactly RequiredRules, bound to the restricted user, is
// enough for the watcher (owner chain through a Deployment) and the
// recorder (create, and patch for a repeated event).
func testRequiredRules(t *testing.T, srv *kapitest.Server) {
	c := newCluster(t, srv)
	if _, err := c.cs.RbacV1().Roles(c.ns).Create(c.ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "ipfailover"}, Rules: RequiredRules(),
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.cs.RbacV1().RoleBindings(c.ns).Create(c.ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "ipfailover"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "ipfailover"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: "rbac.authorization.k8s.io", Name: kapitest.RestrictedUser}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := c.deployment("ipf", map[string]string{"app": "ipf"})
	rs := c.replicaSet(d, "h")
	p := c.pod("ipf-a", rs.Spec.Template.Labels, controller("ReplicaSet", "apps/v1", rs), "10.7.0.1")
	c.pod("ipf-b", rs.Spec.Template.Labels, controller("ReplicaSet", "apps/v1", rs), "10.7.0.2")
	ds := c.daemonSet("ipf-ds", map[string]string{"app": "ipf-ds"})
	c.pod("ipf-ds-a", map[string]string{"app": "ipf-ds"}, controller("DaemonSet", "apps/v1", ds), "10.7.1.1")

	log, lb := testLogger(t)
	w := watch(t, WatcherOptions{Target: c.target(srv.Restricted, "ipf-a"), Logger: log})
	waitPeers(t, w, 10*time.Second, "10.7.0.1", "10.7.0.2")
	wds := watch(t, WatcherOptions{Target: c.target(srv.Restricted, "ipf-ds-a"), Logger: log})
	waitPeers(t, wds, 10*time.Second, "10.7.1.1")
	c.deletePod("ipf-b")
	waitPeers(t, w, 5*time.Second, "10.7.0.1")

	r := newRecorder(t, RecorderOptions{Target: c.target(srv.Restricted, "ipf-a"), Logger: log})
	eventually(t, 10*time.Second, "pod UID not looked up", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.ref.UID == p.UID
	})
	for range 3 {
		r.Transition(Transition{Instance: "ipf_VIP_1", State: "BACKUP", VIPs: []netip.Prefix{netip.MustParsePrefix("10.7.9.9/32")}})
	}
	eventually(t, 10*time.Second, "VIPBackup not counted 3 times", func() bool {
		e := findEvent(c.podEvents(p.Name), ReasonVIPBackup)
		return e != nil && e.Count == 3 && e.InvolvedObject.UID == p.UID
	})
	if strings.Contains(lb.String(), "level=WARN") || r.Off() || r.Stats().Failed != 0 {
		t.Fatalf("stats %+v, log:\n%s", r.Stats(), lb)
	}
}

// The API server goes away: the last peer set stays, Up turns false, then
// true again after the restart (same etcd data) without a spurious change.
func TestAPIServerRestart(t *testing.T) {
	srv := kapitest.Start(t, kapitest.Options{})
	c := newCluster(t, srv)
	labels := map[string]string{"app": "ipf"}
	ds := c.daemonSet("ipf", labels)
	for i := 1; i <= 3; i++ {
		c.pod(fmt.Sprintf("ipf-%d", i), labels, controller("DaemonSet", "apps/v1", ds), fmt.Sprintf("10.8.0.%d", i))
	}
	log, lb := testLogger(t)
	w := watch(t, WatcherOptions{Target: c.target(srv.Admin, "ipf-1"), Logger: log})
	waitPeers(t, w, 10*time.Second, "10.8.0.1", "10.8.0.2", "10.8.0.3")
	col := NewCollector(w)
	metrics := func(up, changes int) string {
		return fmt.Sprintf(`# HELP ipfailover_kubernetes_peer_changes_total Changes of the peer set (host IPs of the agent's sibling pods) seen through the Kubernetes API; the first list counts one.
# TYPE ipfailover_kubernetes_peer_changes_total counter
ipfailover_kubernetes_peer_changes_total %d
# HELP ipfailover_kubernetes_up 1 if the agent lists and watches its peer pods through the Kubernetes API; 0 while the API server is unreachable or refuses (the last known peers stay in use).
# TYPE ipfailover_kubernetes_up gauge
ipfailover_kubernetes_up %d
`, changes, up)
	}
	if err := testutil.CollectAndCompare(col, strings.NewReader(metrics(1, 1))); err != nil {
		t.Fatal(err)
	}

	srv.StopAPIServer()
	start := time.Now()
	eventually(t, 30*time.Second, "Up still true with the API server stopped", func() bool { return !w.Up() })
	t.Logf("down noticed after %s", time.Since(start).Round(time.Millisecond))
	if st := w.Status(); st.State != StateDown || !slices.Equal(st.Peers, addrs("10.8.0.1", "10.8.0.2", "10.8.0.3")) || st.Reason == "" {
		t.Fatalf("status while down: %+v", st)
	}
	if err := testutil.CollectAndCompare(col, strings.NewReader(metrics(0, 1))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the informer retries meanwhile
	if !slices.Equal(w.Peers(), addrs("10.8.0.1", "10.8.0.2", "10.8.0.3")) || w.Changes() != 1 {
		t.Fatalf("peers changed while the API was away: %v, %d changes", w.Peers(), w.Changes())
	}

	start = time.Now()
	if err := srv.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server ready again after %s", time.Since(start).Round(time.Millisecond))
	eventually(t, 60*time.Second, "Up not back after the restart", w.Up)
	t.Logf("watcher up again %s after the restart began", time.Since(start).Round(time.Millisecond))
	time.Sleep(3 * DefaultDebounce)
	if !slices.Equal(w.Peers(), addrs("10.8.0.1", "10.8.0.2", "10.8.0.3")) || w.Changes() != 1 {
		t.Fatalf("spurious change after the restart: %v, %d changes", w.Peers(), w.Changes())
	}
	if err := testutil.CollectAndCompare(col, strings.NewReader(metrics(1, 1))); err != nil {
		t.Fatal(err)
	}
	if lb.count("kubernetes API not usable") != 1 || lb.count("kubernetes API usable again") != 1 {
		t.Errorf("want one line each way:\n%s", lb)
	}
	// And it follows the API again.
	c.deletePod("ipf-3")
	waitPeers(t, w, 5*time.Second, "10.8.0.1", "10.8.0.2")

	// An agent that starts while the API server is away runs on its static
	// configuration and catches up when the server is back.
	srv.StopAPIServer()
	log2, lb2 := testLogger(t)
	w2 := watch(t, WatcherOptions{Target: c.target(srv.Admin, "ipf-2"), Logger: log2})
	eventually(t, 10*time.Second, "no warning for an unreachable API at start", func() bool {
		return lb2.count("kubernetes peers: API not usable yet") == 1
	})
	if st := w2.Status(); st.State != StateStarting || w2.Peers() != nil || !strings.Contains(st.Reason, "connection refused") {
		t.Fatalf("status while starting without API: %+v", st)
	}
	if err := srv.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	waitPeers(t, w2, 40*time.Second, "10.8.0.1", "10.8.0.2")
	if !w2.Up() || lb2.count("level=WARN") != 1 {
		t.Fatalf("up %v, log:\n%s", w2.Up(), lb2)
	}
}
