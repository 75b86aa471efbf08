package lab

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestWithBinds: the wrapper mounts each Bind and then execs the original
// argv, whatever characters the paths and arguments hold.
func TestWithBinds(t *testing.T) {
	spec := WithBinds(Spec{Argv: []string{"/bin/echo", "it's", "a $HOME", "`x`"}, Env: []string{"A=1"}},
		Bind{Source: "/tmp/creds dir", Target: "/var/run/secrets/kubernetes.io/serviceaccount"})
	if spec.Argv[0] != "/bin/sh" || len(spec.Argv) != 3 || !slices.Equal(spec.Env, []string{"A=1"}) {
		t.Fatalf("spec = %+v", spec)
	}
	for _, want := range []string{
		"mkdir -p '/var/run/secrets/kubernetes.io/serviceaccount'",
		"mount --bind '/tmp/creds dir' '/var/run/secrets/kubernetes.io/serviceaccount'",
		"mount -o remount,bind,ro '/var/run/secrets/kubernetes.io/serviceaccount'",
	} {
		if !strings.Contains(spec.Argv[2], want) {
			t.Errorf("script lacks %q:\n%s", want, spec.Argv[2])
		}
	}
	// Run only the exec line: the words must arrive unchanged.
	script := spec.Argv[2][strings.LastIndex(spec.Argv[2], "exec "):]
	out, err := exec.Command("/bin/sh", "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "it's a $HOME `x`" {
		t.Errorf("echo printed %q", got)
	}
}

func TestAddEndpointRefuses(t *testing.T) {
	var ran []string
	l := &Lab{ID: "abcd", Switch: "ipf-abcd-sw", run: func(_ context.Context, name string, args ...string) ([]byte, error) {
		ran = append(ran, name+" "+strings.Join(args, " "))
		return nil, nil
	}}
	for _, tc := range []struct {
		name string
		host int
	}{{"", 90}, {"toolong", 90}, {"a/b", 90}, {"api", 0}, {"api", 12}, {"api", 100}, {"api", 255}} {
		if _, err := l.AddEndpoint(context.Background(), tc.name, tc.host); err == nil {
			t.Errorf("AddEndpoint(%q, %d) accepted", tc.name, tc.host)
		}
	}
	if len(ran) != 0 {
		t.Errorf("ran %q for refused endpoints", ran)
	}
}
