package render

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/env"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadAuthPassword(t *testing.T) {
	for _, tc := range []struct{ content, want string }{
		{"s3cr3t", "s3cr3t"},
		{"s3cr3t\n", "s3cr3t"},
		{"s3cr3t\r\n", "s3cr3t"},
		{"12345678\n", "12345678"},
		{"a'b%c&*(", "a'b%c&*("},
		{"~", "~"},
	} {
		got, err := ReadAuthPassword(writeFile(t, tc.content))
		if err != nil || got != tc.want {
			t.Errorf("ReadAuthPassword(%q) = %q, %v; want %q", tc.content, got, err, tc.want)
		}
	}
}

// TestReadAuthPasswordErrors: every bad file gives an *env.InvalidError
// naming the variable and the path with a precise reason, and never the
// content.
func TestReadAuthPasswordErrors(t *testing.T) {
	big := strings.Repeat("Kx7Qm2Zp", 9)
	for _, tc := range []struct {
		name, content, reason string
		secrets               []string // must not appear in the message
	}{
		{"empty", "", "is empty", nil},
		{"only a newline", "\n", "is empty", nil},
		{"too long", "Kx7Qm2Zp9", "longer than 8 bytes", []string{"Kx7Qm2Zp9", "Kx7Qm2Zp"}},
		{"space", "Kx7 Qm2", "not allowed", []string{"Kx7", "Qm2"}},
		{"two newlines", "Kx7Qm2\n\n", "not allowed", []string{"Kx7Qm2"}},
		{"two lines", "Kx7\nQm2\n", "not allowed", []string{"Kx7", "Qm2"}},
		{"hash", "Kx7#Qm2", "not allowed", []string{"Kx7", "Qm2"}},
		{"bang", "Kx7!Qm2", "not allowed", []string{"Kx7", "Qm2"}},
		{"dollar", "Kx7$Qm2", "not allowed", []string{"Kx7", "Qm2"}},
		{"quote", `Kx7"Qm2`, "not allowed", []string{"Kx7", "Qm2"}},
		{"brace", "Kx7{Qm2", "not allowed", []string{"Kx7", "Qm2"}},
		{"backslash", `Kx7\Qm2`, "not allowed", []string{"Kx7", "Qm2"}},
		{"tab", "Kx7\tQm2", "not allowed", []string{"Kx7", "Qm2"}},
		{"non-ASCII", "Kx7é", "not allowed", []string{"Kx7"}},
		{"NUL", "Kx7\x00", "not allowed", []string{"Kx7"}},
		{"huge", big, "larger than 64 bytes", []string{"Kx7Qm2Zp"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.content)
			pw, err := ReadAuthPassword(path)
			var invalid *env.InvalidError
			if !errors.As(err, &invalid) || len(invalid.Problems) != 1 {
				t.Fatalf("ReadAuthPassword = %q, %v; want one *env.InvalidError", pw, err)
			}
			if pw != "" {
				t.Errorf("returned %q with the error", pw)
			}
			msg := err.Error()
			for _, want := range []string{"OPENSHIFT_HA_AUTH_PASSWORD_FILE", path, tc.reason} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
			for _, s := range tc.secrets {
				if strings.Contains(msg, s) {
					t.Errorf("error %q shows the content (%q)", msg, s)
				}
			}
		})
	}

	dir := t.TempDir()
	for _, tc := range []struct{ path, reason string }{
		{filepath.Join(dir, "missing"), "no such file"},
		{dir, "is a directory"},
	} {
		_, err := ReadAuthPassword(tc.path)
		var invalid *env.InvalidError
		if !errors.As(err, &invalid) || !strings.Contains(err.Error(), tc.reason) ||
			!strings.Contains(err.Error(), "OPENSHIFT_HA_AUTH_PASSWORD_FILE") || strings.Count(err.Error(), tc.path) != 1 {
			t.Errorf("ReadAuthPassword(%s) = %v, want one problem naming the variable and the path once, with %q", tc.path, err, tc.reason)
		}
	}
}

// TestAuthPasswordReplacesName: with Options.AuthPassword every VRRPv2
// instance authenticates with it instead of the name-derived password;
// VRRPv3 instances (IPv6, sub-second adverts) still carry none.
func TestAuthPasswordReplacesName(t *testing.T) {
	cfg := mustConfig(t, []string{"OPENSHIFT_HA_CONFIG_NAME=ipf-router", "OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100-101,2001:db8::100"})
	opts := Options{Version: "test", CheckFile: goldenCheckFile, AuthPassword: "Zq8'%&*("}
	d, err := NewData(cfg, goldenHost, opts)
	if err != nil {
		t.Fatal(err)
	}
	v2 := 0
	for _, in := range d.Instances {
		switch in.Version {
		case 2:
			v2++
			if in.AuthPass != "Zq8'%&*(" {
				t.Errorf("%s: auth_pass %q, want the password from the file", in.Name, in.AuthPass)
			}
		case 3:
			if in.AuthPass != "" {
				t.Errorf("%s: VRRPv3 instance has auth_pass %q", in.Name, in.AuthPass)
			}
		}
	}
	if v2 != 2 {
		t.Fatalf("%d VRRPv2 instances, want 2", v2)
	}
	tmpl, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	conf, err := tmpl.Execute(d)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(conf), "auth_pass Zq8'%&*(\n"); got != 2 {
		t.Errorf("config has %d auth_pass lines with the password, want 2:\n%s", got, conf)
	}
	if strings.Contains(string(conf), "auth_pass ipf-rout") {
		t.Error("the name-derived password is still rendered")
	}

	// Without the option nothing changes: the original's password.
	d, err = NewData(cfg, goldenHost, Options{Version: "test", CheckFile: goldenCheckFile})
	if err != nil {
		t.Fatal(err)
	}
	if d.Instances[0].AuthPass != "ipf-rout" {
		t.Errorf("default auth_pass %q, want the first 8 bytes of the name", d.Instances[0].AuthPass)
	}

	// An invalid password given directly is refused without being shown.
	_, err = NewPlan(cfg, goldenHost, Options{Version: "test", CheckFile: goldenCheckFile, AuthPassword: "Zq8 Wx4"})
	if err == nil || !strings.Contains(err.Error(), "OPENSHIFT_HA_AUTH_PASSWORD_FILE") || strings.Contains(err.Error(), "Zq8") {
		t.Errorf("NewPlan with an invalid password: %v", err)
	}
}

// TestSecretNeverPrints: Options and Plan, printed or encoded every usual
// way, do not show the password.
func TestSecretNeverPrints(t *testing.T) {
	const pw = "Zq8Wx4Kp"
	cfg := mustConfig(t, []string{"OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100"})
	o := Options{Version: "test", CheckFile: goldenCheckFile, AuthPassword: pw}
	p, err := NewPlan(cfg, goldenHost, o)
	if err != nil {
		t.Fatal(err)
	}
	var outs []string
	for _, v := range []any{o, &o, p, &p, o.AuthPassword} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
			outs = append(outs, fmt.Sprintf(verb, v))
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(b))
	}
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
		slog.New(h).Info("render", "options", o, "plan", p, "password", o.AuthPassword)
	}
	outs = append(outs, logs.String())
	for _, s := range outs {
		if strings.Contains(s, pw) || strings.Contains(s, fmt.Sprintf("%x", pw)) || strings.Contains(s, fmt.Sprintf("%X", pw)) {
			t.Errorf("password shown in %q", s)
		}
	}
	if !strings.Contains(fmt.Sprintf("%+v", o), "[redacted]") {
		t.Errorf("%+v does not say the password is redacted", o)
	}
}

// TestCheckAuthPasswordCharacters: every printable ASCII character but
// space and the keepalived.conf specials is accepted.
func TestCheckAuthPasswordCharacters(t *testing.T) {
	for c := byte(0); c < 0x80; c++ {
		want := c > ' ' && c <= '~' && !strings.ContainsRune(`"{}#!\$`, rune(c))
		if got := checkAuthPassword("a"+string(c)+"b") == ""; got != want {
			t.Errorf("character %q accepted = %v, want %v", c, got, want)
		}
	}
}

// TestKeepalivedReadsAuthPassword renders configurations whose passwords
// use every accepted punctuation character, starts keepalived on each (in
// a private network namespace) with its configuration dump on, and checks
// that keepalived read exactly the password, so nothing in it is taken as
// a comment, quote or substitution.
func TestKeepalivedReadsAuthPassword(t *testing.T) {
	ns := testNamespace(t)
	dir := t.TempDir()
	var accepted []byte
	for c := byte('!'); c <= '~'; c++ {
		if checkAuthPassword(string(c)) == "" && !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			accepted = append(accepted, c)
		}
	}
	var passwords []string
	for i := 0; i < len(accepted); i += 7 {
		pw := "k" + string(accepted[i:min(i+7, len(accepted))])
		passwords = append(passwords, pw)
	}
	passwords = append(passwords, "'", "%", "&a", "a;b")
	cfg := mustConfig(t, []string{"OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100", "OPENSHIFT_HA_MONITOR_PORT=0"})
	tmpl, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for i, pw := range passwords {
		d, err := NewData(cfg, goldenHost, Options{Version: "test", AuthPassword: Secret(pw)})
		if err != nil {
			t.Fatalf("password %d: %v", i, err)
		}
		conf, err := tmpl.Execute(d)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, fmt.Sprintf("pw%d.conf", i))
		if err := os.WriteFile(file, conf, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := keepalivedPassword(t, ns, dir, file); got != pw {
			t.Errorf("keepalived read password %q, rendered %q", got, pw)
		}
	}
}

// keepalivedPassword starts keepalived on file in ns with -d and returns the
// password its configuration dump shows, then stops it.
func keepalivedPassword(t *testing.T, ns, dir, file string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	base := strings.TrimSuffix(file, ".conf")
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "keepalived", "--dont-fork", "--log-console", "--dump-conf", "--vrrp",
		"-f", file, "-p", base+".pid", "-r", base+".vrrp.pid")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}()
	sc := bufio.NewScanner(out)
	var seen []string
	for sc.Scan() {
		l := sc.Text()
		seen = append(seen, l)
		if _, pw, ok := strings.Cut(l, "Password = "); ok {
			return pw
		}
	}
	t.Fatalf("keepalived showed no password:\n%s", strings.Join(seen, "\n"))
	return ""
}
