package kapitest

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestStart: the server answers the admin, refuses the restricted user,
// and comes back with its data after a restart.
func TestStart(t *testing.T) {
	t0 := time.Now()
	s := Start(t, Options{})
	t.Logf("ready after %s", time.Since(t0).Round(time.Millisecond))
	ctx := context.Background()
	admin := kubernetes.NewForConfigOrDie(s.Admin)
	v, err := admin.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server %s", v.GitVersion)
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kapitest"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = kubernetes.NewForConfigOrDie(s.Restricted).CoreV1().Pods("kapitest").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("restricted user: want forbidden, got %v", err)
	}
	s.StopAPIServer()
	if _, err := admin.CoreV1().Namespaces().Get(ctx, "kapitest", metav1.GetOptions{}); err == nil {
		t.Fatal("stopped server answered")
	}
	t0 = time.Now()
	if err := s.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted after %s", time.Since(t0).Round(time.Millisecond))
	if _, err := admin.CoreV1().Namespaces().Get(ctx, "kapitest", metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace lost over a restart: %v", err)
	}
}
