package agent

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfailover/ipfailover/render"
)

// TestPasswordFile: run's config carries the Secret's password, re-read on
// every render; render's output never shows it.
func TestPasswordFile(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pw, []byte("s3cr3t%\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "OPENSHIFT_HA_AUTH_PASSWORD_FILE="+pw)
	f := newFakeHost()
	d := f.deps(t)
	out, err := Render(cfg, "eth0", []netip.Addr{netip.MustParseAddr("192.0.2.10")}, d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "s3cr3t") || !strings.Contains(string(out), "auth_pass "+redactedPassword) {
		t.Errorf("render shows the password or no placeholder:\n%s", out)
	}
	host := render.Host{Interface: "eth0", Addr4: netip.MustParseAddr("192.0.2.10")}
	p, err := newPlan(cfg, host, t.TempDir(), "test")
	if err != nil {
		t.Fatal(err)
	}
	conf, err := configText(p)
	if err != nil || !strings.Contains(string(conf), "auth_pass s3cr3t%") {
		t.Fatalf("run's config lacks the password (%v):\n%s", err, conf)
	}
	if err := os.WriteFile(pw, []byte("n3w\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if conf, err = configText(p); err != nil || !strings.Contains(string(conf), "auth_pass n3w") {
		t.Errorf("a changed Secret is not used on the next render (%v)", err)
	}
	if err := os.WriteFile(pw, []byte("has space\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := configText(p); err == nil || strings.Contains(err.Error(), "has space") || !strings.Contains(err.Error(), "OPENSHIFT_HA_AUTH_PASSWORD_FILE") {
		t.Errorf("bad content: %v (must name the variable, never the content)", err)
	}
}
