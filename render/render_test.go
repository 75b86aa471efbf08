package render

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ipfailover/ipfailover/env"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenCheckFile is the health check status file in golden files.
const goldenCheckFile = "/run/ipfailover/OpenShift_IPFailover/check.status"

var goldenHost = Host{
	Interface: "eth0",
	Addr4:     netip.MustParseAddr("192.0.2.10"),
	Addr6:     netip.MustParseAddr("2001:db8::10"),
}

type goldenCase struct {
	name string
	env  []string
}

func goldenCases() []goldenCase {
	seed := "OPENSHIFT_HA_VIRTUAL_IPS=1.2.3.4,10.1.1.100-104,5.6.7.8"
	vips254 := "OPENSHIFT_HA_VIRTUAL_IPS=198.51.100.1-198.51.100.254"
	return []goldenCase{
		{"seed", []string{seed, "OPENSHIFT_HA_REPLICA_COUNT=4"}},
		{"seed_3_groups", []string{seed, "OPENSHIFT_HA_VIP_GROUPS=3"}},
		{"offset_0", []string{seed, "OPENSHIFT_HA_VRRP_ID_OFFSET=0"}},
		{"excluded_vrids", []string{seed, "HA_EXCLUDED_VRRP_IDS=12 13", "OPENSHIFT_HA_EXCLUDED_VRRP_IDS=15"}},
		{"ipv6_ranges", []string{"OPENSHIFT_HA_VIRTUAL_IPS=2001:DB8:1ABC::1F39-1F3B,2001:db8::a-2001:db8::c"}},
		{"dual_stack", []string{"OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100-103,2001:db8::100-103", "OPENSHIFT_HA_VIP_GROUPS=2"}},
		{"unicast", []string{"OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100-102", "OPENSHIFT_HA_UNICAST_PEERS=192.0.2.10,192.0.2.11,192.0.2.12", "OPENSHIFT_HA_USE_UNICAST=true"}},
		{"nopreempt", []string{seed, "OPENSHIFT_HA_PREEMPTION=nopreempt"}},
		{"check_script", []string{seed, "OPENSHIFT_HA_CHECK_SCRIPT=/etc/ipfailover/check.sh", "OPENSHIFT_HA_CHECK_INTERVAL=5", "OPENSHIFT_HA_NOTIFY_SCRIPT=/etc/ipfailover/notify.sh"}},
		{"monitor_port_0", []string{seed, "OPENSHIFT_HA_MONITOR_PORT=0"}},
		{"groups_254", []string{vips254, "OPENSHIFT_HA_VRRP_ID_OFFSET=0"}},
		{"subsecond_advert", []string{"OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100,2001:db8::100", "OPENSHIFT_HA_ADVERT_INTERVAL=0.1"}},
		{"long_name", []string{"OPENSHIFT_HA_CONFIG_NAME=ipf-ha-router-us-west", "OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100/24"}},
		{"mixed_v6_first", []string{"OPENSHIFT_HA_VIRTUAL_IPS=2001:db8::1,192.0.2.50"}},
		{"mixed_groups_1", []string{"OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100-101,2001:db8::100-101", "OPENSHIFT_HA_VIP_GROUPS=1"}},
		{"name_with_space", []string{"OPENSHIFT_HA_CONFIG_NAME=my.fail over", "OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100-102"}},
		{"check_script_args", []string{"OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100", "OPENSHIFT_HA_CHECK_SCRIPT=/etc/keepalive/mycheckscript.sh --strict"}},
		{"ipv6_only_tcp_check", []string{"OPENSHIFT_HA_VIRTUAL_IPS=2001:db8::100-101", "OPENSHIFT_HA_MONITOR_PORT=8080"}},
	}
}

func mustConfig(t testing.TB, environ []string) env.Config {
	t.Helper()
	cfg, _, err := env.Load(environ)
	if err != nil {
		t.Fatalf("env.Load(%q): %v", environ, err)
	}
	return cfg
}

func renderCase(t testing.TB, environ []string) []byte {
	t.Helper()
	d, err := NewData(mustConfig(t, environ), goldenHost, Options{Version: "test", CheckFile: goldenCheckFile})
	if err != nil {
		t.Fatalf("NewData: %v", err)
	}
	tmpl, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	out, err := tmpl.Execute(d)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			got := renderCase(t, c.env)
			path := filepath.Join("testdata", c.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("rendered config differs from %s (run go test ./render -update and review the diff)\n--- got ---\n%s", path, got)
			}
			if again := renderCase(t, c.env); !bytes.Equal(got, again) {
				t.Error("rendering is not deterministic")
			}
		})
	}
}

// warningLine matches keepalived output that means the config is not clean.
var warningLine = regexp.MustCompile(`(?i)warning|security|truncat|notice|error|ignoring|unknown keyword|not valid|disabling`)

// TestKeepalivedAcceptsGolden checks every golden case with the real
// keepalived -t inside a private network namespace that has an eth0, with
// the scripts swapped for files that exist so script security can check them.
func TestKeepalivedAcceptsGolden(t *testing.T) {
	ns := testNamespace(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			conf := renderCase(t, c.env)
			conf = bytes.ReplaceAll(conf, []byte("/etc/ipfailover/check.sh"), []byte(script))
			conf = bytes.ReplaceAll(conf, []byte("/etc/ipfailover/notify.sh"), []byte(script))
			file := filepath.Join(dir, c.name+".conf")
			if err := os.WriteFile(file, conf, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("ip", "netns", "exec", ns, "keepalived", "-t", "-e", "-l", "-f", file).CombinedOutput()
			if err != nil {
				t.Fatalf("keepalived -t: %v\n%s\n--- config ---\n%s", err, out, conf)
			}
			for _, line := range strings.Split(string(out), "\n") {
				if warningLine.MatchString(line) {
					t.Errorf("keepalived -t printed %q", line)
				}
			}
		})
	}
}

// testNamespace makes a network namespace with a veth eth0 that is up, or
// skips the test when that is not possible here.
func testNamespace(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("keepalived -t checks need root (to create a network namespace)")
	}
	if _, err := exec.LookPath("keepalived"); err != nil {
		t.Skip("keepalived is not installed")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	ns := "ipf-rt-" + hex.EncodeToString(b)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	run("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
	run("ip", "-n", ns, "link", "set", "eth0", "up")
	run("ip", "-n", ns, "link", "set", "eth0p", "up")
	run("ip", "-n", ns, "addr", "add", "192.0.2.10/24", "dev", "eth0")
	run("ip", "-n", ns, "addr", "add", "2001:db8::10/64", "dev", "eth0", "nodad")
	return ns
}

func TestUnicastWithoutPeersIsInvalid(t *testing.T) {
	cfg := mustConfig(t, []string{"OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100", "OPENSHIFT_HA_UNICAST_PEERS=192.0.2.10", "OPENSHIFT_HA_USE_UNICAST=true"})
	_, err := NewData(cfg, goldenHost, Options{CheckFile: goldenCheckFile})
	var inv *env.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("want *env.InvalidError, got %v", err)
	}
	if p := inv.Problems[0]; p.Variable != "OPENSHIFT_HA_UNICAST_PEERS" || !strings.Contains(p.Reason, "192.0.2.10") {
		t.Errorf("problem = %+v", p)
	}
}

func TestInvariants(t *testing.T) {
	for _, c := range goldenCases() {
		cfg := mustConfig(t, c.env)
		d, err := NewData(cfg, goldenHost, Options{CheckFile: goldenCheckFile})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range d.Instances {
			if in.Priority < 1 || in.Priority > 254 {
				t.Errorf("%s: %s priority %d outside 1..254", c.name, in.Name, in.Priority)
			}
			if len(in.AuthPass) > authPassLen {
				t.Errorf("%s: auth_pass %q longer than %d", c.name, in.AuthPass, authPassLen)
			}
			if in.Family == "ipv6" && (in.Version != 3 || in.AuthPass != "") {
				t.Errorf("%s: IPv6 instance %s must be VRRPv3 without auth", c.name, in.Name)
			}
		}
	}
}

func TestScrub(t *testing.T) {
	for in, want := range map[string]string{
		"OpenShift-IPFailover": "OpenShift_IPFailover",
		"a b.c/d":              "abcd",
		"ipf_1":                "ipf_1",
	} {
		if got := Scrub(in); got != want {
			t.Errorf("Scrub(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUserTemplateGetsSameData(t *testing.T) {
	tmpl, err := Parse("user", `{{ .RouterID }} {{ range .Instances }}{{ .VRID }}:{{ join "," .VIPs }} {{ end }}`)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewData(mustConfig(t, []string{"OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100-101"}), goldenHost, Options{CheckFile: goldenCheckFile})
	if err != nil {
		t.Fatal(err)
	}
	out, err := tmpl.Execute(d)
	if err != nil {
		t.Fatal(err)
	}
	if want := "OpenShift_IPFailover 11:192.0.2.100/32 12:192.0.2.101/32 "; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if _, err := Parse("bad", `{{ env "HOME" }}`); err == nil {
		t.Error("non-hermetic function env must not be available")
	}
	bad, _ := Parse("missing", `{{ .NoSuchField }}`)
	if _, err := bad.Execute(d); err == nil {
		t.Error("missing field must fail")
	}
}

func BenchmarkRender254x4096(b *testing.B) {
	// 254 groups over 4096 VIPs (198.51.100.0/20 would leave the
	// documentation range, so mix three documentation /24s and IPv6).
	vips := "OPENSHIFT_HA_VIRTUAL_IPS=2001:db8::1000-2001:db8::1fff"
	cfg := mustConfig(b, []string{vips, "OPENSHIFT_HA_VIP_GROUPS=254", "OPENSHIFT_HA_VRRP_ID_OFFSET=0"})
	tmpl, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		d, err := NewData(cfg, goldenHost, Options{CheckFile: goldenCheckFile})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tmpl.Execute(d); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNotifyScriptMovesToFIFO(t *testing.T) {
	cfg := mustConfig(t, []string{"OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100", "OPENSHIFT_HA_NOTIFY_SCRIPT=/etc/ipfailover/notify.sh"})
	for _, c := range []struct {
		fifo       string
		wantNotify bool
	}{{"", true}, {"/run/ipfailover/x/vrrp.fifo", false}} {
		d, err := NewData(cfg, goldenHost, Options{CheckFile: goldenCheckFile, NotifyFIFO: c.fifo})
		if err != nil {
			t.Fatal(err)
		}
		tmpl, _ := Default()
		out, err := tmpl.Execute(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(out, []byte(`notify "/etc/ipfailover/notify.sh"`)); got != c.wantNotify {
			t.Errorf("fifo %q: notify rendered = %v, want %v", c.fifo, got, c.wantNotify)
		}
		if got := bytes.Contains(out, []byte("vrrp_notify_fifo "+c.fifo)); got != (c.fifo != "") {
			t.Errorf("fifo %q: vrrp_notify_fifo rendered = %v", c.fifo, got)
		}
	}
}

// TestTemplateErrorsAreShort: a template path pointing at a secrets file
// must not print the file's lines into the log.
func TestTemplateErrorsAreShort(t *testing.T) {
	secret := "root:$y$j9T$verysecrethashverysecrethashverysecrethashverysecrethash:19000:0:99999:7:::\n{{ root:secret }}\n"
	_, err := Parse("/etc/shadow", secret)
	if err == nil {
		t.Fatal("parse succeeded")
	}
	msg := err.Error()
	if strings.Contains(msg, "verysecrethash") || len(msg) > 200 {
		t.Errorf("error leaks the file or is long (%d bytes): %s", len(msg), msg)
	}
	if !strings.Contains(msg, "line 2") || !strings.Contains(msg, "OPENSHIFT_HA_KEEPALIVED_TEMPLATE") {
		t.Errorf("error lacks the line or the variable: %s", msg)
	}
}

func TestTemplateWithoutActionsIsRefused(t *testing.T) {
	_, err := Parse("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
	var te *TemplateError
	if !errors.As(err, &te) || strings.Contains(err.Error(), "root:x") {
		t.Errorf("err = %v", err)
	}
}
