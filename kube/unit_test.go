package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDetect(t *testing.T) {
	sa := t.TempDir()
	noToken := t.TempDir()
	if err := os.WriteFile(filepath.Join(sa, "token"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sa, "ca.crt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	full := map[string]string{
		"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443",
		"POD_NAME": "ipf-1", "POD_NAMESPACE": "ns",
	}
	without := func(keys ...string) map[string]string {
		m := map[string]string{}
		for k, v := range full {
			m[k] = v
		}
		for _, k := range keys {
			delete(m, k)
		}
		return m
	}
	for _, tc := range []struct {
		name, mode, dir string
		env             map[string]string
		off             string // substring of the ErrOff reason; "" means on
		bad             bool
	}{
		{name: "auto", mode: "", dir: sa, env: full},
		{name: "AUTO", mode: " Auto ", dir: sa, env: full},
		{name: "off", mode: "off", dir: sa, env: full, off: "OPENSHIFT_HA_KUBERNETES=off"},
		{name: "bad mode", mode: "yes", dir: sa, env: full, bad: true},
		{name: "not in a pod", dir: sa, env: without("KUBERNETES_SERVICE_PORT"), off: "not running in a Kubernetes pod"},
		{name: "no token", dir: noToken, env: full, off: "no service-account token"},
		{name: "no POD_NAME", dir: sa, env: without("POD_NAME"), off: "POD_NAME and POD_NAMESPACE"},
		{name: "no POD_NAMESPACE", dir: sa, env: without("POD_NAMESPACE"), off: "downward API"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Detect(tc.mode, env(tc.env), tc.dir)
			switch {
			case tc.bad:
				if err == nil || errors.Is(err, ErrOff) {
					t.Fatalf("want a configuration error, got %v", err)
				}
			case tc.off != "":
				if !errors.Is(err, ErrOff) || !strings.Contains(err.Error(), tc.off) {
					t.Fatalf("want ErrOff with %q, got %v", tc.off, err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if got.Config.Host != "https://[fd00::1]:443" || got.Config.BearerTokenFile != filepath.Join(sa, "token") ||
					got.Config.CAFile != filepath.Join(sa, "ca.crt") || got.Namespace != "ns" || got.PodName != "ipf-1" {
					t.Fatalf("got %+v %+v", got, got.Config)
				}
			}
		})
	}
}

func ctrl(kind, apiVersion, name string) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{Kind: kind, APIVersion: apiVersion, Name: name, UID: "u-" + types.UID(name), Controller: &yes}}
}

func sel(m map[string]string) *metav1.LabelSelector { return &metav1.LabelSelector{MatchLabels: m} }

func TestResolveOwner(t *testing.T) {
	const ns = "ns"
	meta := func(name string, owners []metav1.OwnerReference, ann map[string]string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owners, Annotations: ann}
	}
	cs := fake.NewClientset(
		&appsv1.Deployment{ObjectMeta: meta("dep", nil, nil), Spec: appsv1.DeploymentSpec{Selector: sel(map[string]string{"app": "ipf"})}},
		&appsv1.ReplicaSet{ObjectMeta: meta("dep-abc", ctrl("Deployment", "apps/v1", "dep"), nil),
			Spec: appsv1.ReplicaSetSpec{Selector: sel(map[string]string{"app": "ipf", "pod-template-hash": "abc"})}},
		&appsv1.ReplicaSet{ObjectMeta: meta("bare-rs", nil, nil), Spec: appsv1.ReplicaSetSpec{Selector: sel(map[string]string{"rs": "bare"})}},
		&appsv1.DaemonSet{ObjectMeta: meta("ds", nil, nil), Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}}}}},
		&appsv1.DaemonSet{ObjectMeta: meta("empty", nil, nil), Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{}}},
		&corev1.ReplicationController{ObjectMeta: meta("router-3", nil, map[string]string{dcAnnotation: "router"}),
			Spec: corev1.ReplicationControllerSpec{Selector: map[string]string{"deployment": "router-3", "deploymentconfig": "router", "app": "r"}}},
		&corev1.ReplicationController{ObjectMeta: meta("geo-2", ctrl("DeploymentConfig", "apps.openshift.io/v1", "geo"), nil),
			Spec: corev1.ReplicationControllerSpec{Selector: map[string]string{"deployment": "geo-2", "app": "geo"}}},
		&corev1.ReplicationController{ObjectMeta: meta("plain", nil, nil),
			Spec: corev1.ReplicationControllerSpec{Selector: map[string]string{"name": "plain"}}},
	)
	for _, tc := range []struct {
		name   string
		owners []metav1.OwnerReference
		want   string // Owner.String(); "" with noOwner
		err    string
	}{
		{"deployment", ctrl("ReplicaSet", "apps/v1", "dep-abc"), `Deployment dep (selector "app=ipf")`, ""},
		{"bare replicaset", ctrl("ReplicaSet", "apps/v1", "bare-rs"), `ReplicaSet bare-rs (selector "rs=bare")`, ""},
		{"daemonset", ctrl("DaemonSet", "apps/v1", "ds"), `DaemonSet ds (selector "tier in (a,b)")`, ""},
		{"deploymentconfig by annotation", ctrl("ReplicationController", "v1", "router-3"), `DeploymentConfig router (selector "app=r,deploymentconfig=router")`, ""},
		{"deploymentconfig by owner", ctrl("ReplicationController", "v1", "geo-2"), `DeploymentConfig geo (selector "app=geo,deploymentconfig=geo")`, ""},
		{"plain rc", ctrl("ReplicationController", "v1", "plain"), `ReplicationController plain (selector "name=plain")`, ""},
		{"no owner", nil, "", "has no controlling owner; set OPENSHIFT_HA_PEER_SELECTOR"},
		{"statefulset", ctrl("StatefulSet", "apps/v1", "sts"), "", "StatefulSet sts, which has no peer selector"},
		{"empty selector", ctrl("DaemonSet", "apps/v1", "empty"), "", "empty selector"},
		{"missing", ctrl("DaemonSet", "apps/v1", "gone"), "", "get DaemonSet ns/gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: meta("ipf-x", tc.owners, nil)}
			o, err := resolveOwner(context.Background(), cs, pod)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want error with %q, got %v (%v)", tc.err, err, o)
				}
				var no *errNoOwner
				if errors.As(err, &no) == strings.HasPrefix(tc.err, "get ") {
					t.Fatalf("errNoOwner for %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.String() != tc.want {
				t.Fatalf("got %s, want %s", o, tc.want)
			}
		})
	}
}

func TestPeerSet(t *testing.T) {
	pod := func(phase corev1.PodPhase, host string, hosts ...string) *corev1.Pod {
		p := &corev1.Pod{Status: corev1.PodStatus{Phase: phase, HostIP: host}}
		for _, h := range hosts {
			p.Status.HostIPs = append(p.Status.HostIPs, corev1.HostIP{IP: h})
		}
		return p
	}
	got := peerSet([]any{
		pod(corev1.PodRunning, "10.0.0.3", "10.0.0.3", "fd00::3"),
		pod(corev1.PodPending, "10.0.0.1"),
		pod(corev1.PodRunning, "10.0.0.3"), // two pods on one node
		pod(corev1.PodPending, ""),         // not scheduled
		pod(corev1.PodFailed, "10.0.0.9"),  // evicted
		pod(corev1.PodSucceeded, "10.0.0.8"),
		pod(corev1.PodRunning, "::ffff:10.0.0.2"),
		pod(corev1.PodRunning, "garbage"),
		"not a pod",
	})
	want := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"),
		netip.MustParseAddr("10.0.0.3"), netip.MustParseAddr("fd00::3")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestRequiredRules(t *testing.T) {
	got := map[string]string{}
	for _, r := range RequiredRules() {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				got[g+"/"+res] = strings.Join(r.Verbs, ",")
			}
		}
	}
	want := map[string]string{
		"/pods": "get,list,watch", "apps/replicasets": "get", "apps/deployments": "get",
		"apps/daemonsets": "get", "/replicationcontrollers": "get", "/events": "create,patch",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestKlogHandler(t *testing.T) {
	var buf bytes.Buffer
	h := klogHandler{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})}
	log := slog.New(h)
	log.Error("an error")
	log.Log(context.Background(), -1, "v1")
	log.Log(context.Background(), -4, "v4 tracing")
	out := buf.String()
	if strings.Count(out, "level=DEBUG") != 2 || strings.Contains(out, "tracing") {
		t.Fatalf("got %q", out)
	}
	buf.Reset()
	quiet := klogHandler{slog.NewTextHandler(&buf, nil)} // Info level: nothing from client-go
	if quiet.Enabled(context.Background(), slog.LevelError) {
		t.Fatal("client-go errors pass an Info handler")
	}
	RouteKlog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer klog.ClearLogger()
	klog.ErrorS(errors.New("boom"), "from klog")
	klog.Flush()
	if !strings.Contains(buf.String(), "level=DEBUG") || !strings.Contains(buf.String(), "component=client-go") {
		t.Fatalf("klog output: %q", buf.String())
	}
}

func TestNewWatcherOptions(t *testing.T) {
	if _, err := NewWatcher(WatcherOptions{Target: Target{Namespace: "ns", PodName: "p"}}); err == nil {
		t.Fatal("no config accepted")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tg, err := Detect("", env(map[string]string{"KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "1",
		"POD_NAME": "p", "POD_NAMESPACE": "ns"}), dir)
	if err != nil {
		t.Fatal(err)
	}
	for sel, ok := range map[string]bool{"app=ipf": true, "app in (a,b),tier!=x": true, "app=": true, "": true, "=x": false, "app==a==": false} {
		_, err := NewWatcher(WatcherOptions{Target: *tg, Selector: sel})
		if (err == nil) != ok {
			t.Errorf("selector %q: %v", sel, err)
		}
	}
}

// With the API server unreachable, emitting never blocks and what queues
// is bounded.
func TestRecorderDeadAPI(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connection refused
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := NewRecorder(ctx, RecorderOptions{
		Target: Target{Config: &rest.Config{Host: "https://" + addr, BearerToken: "x"}, Namespace: "ns", PodName: "p"},
		PodUID: "uid", Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.KeepalivedRestarted("first")
	deadline := time.Now().Add(10 * time.Second)
	for r.Stats().Failed == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no failed request")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	const n = 100000
	for i := range n {
		r.CheckFailing(fmt.Sprintf("check %d", i))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("%d events took %s", n, d)
	}
	st := r.Stats()
	if st.Emitted > 1+maxQueuedWhileDown || st.Emitted+st.Dropped != n+1 {
		t.Errorf("stats %+v: more than %d queued while down", st, maxQueuedWhileDown)
	}
	r.Shutdown()
}
