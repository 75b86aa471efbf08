package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/supervisor"
)

func TestRenderCommand(t *testing.T) {
	for _, c := range []struct {
		name       string
		env        map[string]string
		args       []string
		wantCode   int
		wantStdout string // substring; "" means stdout must be empty
		wantStderr []string
	}{
		{
			name:       "seed example",
			env:        map[string]string{"OPENSHIFT_HA_VIRTUAL_IPS": "1.2.3.4,10.1.1.100-104,5.6.7.8"},
			args:       []string{"--interface", "eth0", "--address", "192.0.2.10"},
			wantCode:   exitOK,
			wantStdout: "virtual_router_id 17",
		},
		{
			name:       "every problem reported, nothing on stdout",
			env:        map[string]string{"OPENSHIFT_HA_VIRTUAL_IPS": "10.0.0.5-3,10.0.0.1/24x", "OPENSHIFT_HA_PREEMPTION": "preempt_nodelay 300", "OPENSHIFT_HA_MONITOR_PORT": "http"},
			args:       []string{"--interface", "eth0", "--address", "192.0.2.10"},
			wantCode:   exitInvalid,
			wantStderr: []string{`OPENSHIFT_HA_VIRTUAL_IPS="10.0.0.5-3"`, `OPENSHIFT_HA_VIRTUAL_IPS="10.0.0.1/24x"`, `OPENSHIFT_HA_PREEMPTION="preempt_nodelay 300"`, `OPENSHIFT_HA_MONITOR_PORT="http"`},
		},
		{
			name:       "missing VIPs",
			env:        map[string]string{},
			args:       []string{"--interface", "eth0", "--address", "192.0.2.10"},
			wantCode:   exitInvalid,
			wantStderr: []string{"OPENSHIFT_HA_VIRTUAL_IPS"},
		},
		{
			name:       "unicast without other peers",
			env:        map[string]string{"OPENSHIFT_HA_VIRTUAL_IPS": "192.0.2.100", "OPENSHIFT_HA_UNICAST_PEERS": "192.0.2.10"},
			args:       []string{"--interface", "eth0", "--address", "192.0.2.10"},
			wantCode:   exitInvalid,
			wantStderr: []string{"OPENSHIFT_HA_UNICAST_PEERS"},
		},
		{
			name:       "bad flag",
			env:        map[string]string{"OPENSHIFT_HA_VIRTUAL_IPS": "192.0.2.100"},
			args:       []string{"--address", "not-an-ip"},
			wantCode:   exitInvalid,
			wantStderr: []string{"not-an-ip"},
		},
		{
			name:       "unknown variable warns with a suggestion",
			env:        map[string]string{"OPENSHIFT_HA_VIRTUAL_IPS": "192.0.2.100", "OPENSHIFT_HA_VIRTUAL_IP": "192.0.2.100"},
			args:       []string{"--interface", "eth0", "--address", "192.0.2.10"},
			wantCode:   exitOK,
			wantStdout: "192.0.2.100/32 dev eth0",
			wantStderr: []string{"did you mean OPENSHIFT_HA_VIRTUAL_IPS"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := realMain(append([]string{"render"}, c.args...), &stdout, &stderr, nil)
			if code != c.wantCode {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, c.wantCode, stderr.String())
			}
			if c.wantStdout == "" && stdout.Len() > 0 {
				t.Errorf("stdout must be empty, got:\n%s", stdout.String())
			}
			if !strings.Contains(stdout.String(), c.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", c.wantStdout, stdout.String())
			}
			for _, w := range c.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

func TestRunRejectsInvalidEnvironmentBeforeTouchingAnything(t *testing.T) {
	t.Setenv("OPENSHIFT_HA_VIRTUAL_IPS", "192.0.2.1,192.0.2.1")
	t.Setenv("KEEPALIVED_CONFIG", t.TempDir()+"/keepalived.conf")
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"run"}, &stdout, &stderr, nil); code != exitInvalid {
		t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitInvalid, stderr.String())
	}
	if !strings.Contains(stderr.String(), "appears twice") {
		t.Errorf("stderr does not explain the duplicate:\n%s", stderr.String())
	}
}

func TestCheckTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"check", "tcp", addr, "--timeout", "2s"}, &stdout, &stderr, nil); code != exitOK {
		t.Errorf("open port: exit %d (%s)", code, stderr.String())
	}
	l.Close()
	if code := realMain([]string{"check", "tcp", addr, "--timeout", "2s"}, &stdout, &stderr, nil); code != exitFailure {
		t.Errorf("closed port: exit %d, want %d", code, exitFailure)
	}
	if code := realMain([]string{"check", "udp", addr}, &stdout, &stderr, nil); code != exitInvalid {
		t.Errorf("bad usage: exit %d, want %d", code, exitInvalid)
	}
}

func TestVersionAndUnknownCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"version"}, &stdout, &stderr, nil); code != exitOK || !strings.Contains(stdout.String(), version) {
		t.Errorf("version: exit %d, stdout %q", code, stdout.String())
	}
	if code := realMain([]string{"frobnicate"}, &stdout, &stderr, nil); code != exitInvalid {
		t.Errorf("unknown command: exit %d", code)
	}
}

func TestStatusCommand(t *testing.T) {
	healthy := `{"name":"ipf","healthy":true,"ready":true,"instances":[{"name":"ipf_VIP_1","state":"BACKUP","state_value":1}]}`
	var doc atomic.Value
	doc.Store(healthy)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, doc.Load())
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"status", "--address", addr}, &stdout, &stderr, nil); code != exitOK || !strings.Contains(stdout.String(), "ipf_VIP_1") {
		t.Errorf("healthy agent: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if code := realMain([]string{"status", "--address", addr, "--json"}, &stdout, &stderr, nil); code != exitOK || stdout.String() != healthy {
		t.Errorf("--json: exit %d, %q", code, stdout.String())
	}
	for body, want := range map[string]int{
		strings.Replace(healthy, `"ready":true`, `"ready":false`, 1): exitDegraded,
		strings.Replace(healthy, `"BACKUP"`, `"FAULT"`, 1):           exitDegraded,
		"{": exitFailure,
	} {
		doc.Store(body)
		if code := realMain([]string{"status", "--address", addr}, &stdout, &stderr, nil); code != want {
			t.Errorf("%s: exit %d, want %d", body, code, want)
		}
	}
	srv.Close()
	if code := realMain([]string{"status", "--address", addr, "--timeout", "1s"}, &stdout, &stderr, nil); code != exitFailure {
		t.Errorf("unreachable agent: exit %d, want %d", code, exitFailure)
	}
	if code := realMain([]string{"status", "--address", "nope"}, &stdout, &stderr, nil); code != exitInvalid {
		t.Errorf("bad address: exit %d", code)
	}
	// No agent environment at all: the address follows from the offset.
	t.Setenv("OPENSHIFT_HA_VRRP_ID_OFFSET", "x")
	stderr.Reset()
	if code := realMain([]string{"status"}, &stdout, &stderr, nil); code != exitInvalid || !strings.Contains(stderr.String(), "OPENSHIFT_HA_VRRP_ID_OFFSET") {
		t.Errorf("bad offset: exit %d, %s", code, stderr.String())
	}
	t.Setenv("OPENSHIFT_HA_METRICS_ADDRESS", "")
	stderr.Reset()
	if code := realMain([]string{"status"}, &stdout, &stderr, nil); code != exitInvalid || !strings.Contains(stderr.String(), "serves no status") {
		t.Errorf("no metrics address: exit %d, %s", code, stderr.String())
	}
}

// TestCommandLine: every help, version and unknown invocation, with its
// exit code and where the text goes.
func TestCommandLine(t *testing.T) {
	t.Setenv("OPENSHIFT_HA_VIRTUAL_IPS", "")
	tests := []struct {
		args     []string
		code     int
		stdout   string // substring of stdout ("" must be empty)
		stderr   string // substring of stderr
		noStderr bool
	}{
		{[]string{"--help"}, exitOK, "commands:", "", true},
		{[]string{"-h"}, exitOK, "commands:", "", true},
		{[]string{"help"}, exitOK, "commands:", "", true},
		{[]string{"--version"}, exitOK, "ipfailover " + version, "", true},
		{[]string{"version"}, exitOK, "ipfailover " + version, "", true},
		{[]string{"version", "--help"}, exitOK, "print the version", "", true},
		{[]string{"run", "--help"}, exitOK, "OPENSHIFT_HA_VIRTUAL_IPS", "", true},
		{[]string{"run", "-h"}, exitOK, "preempt_delay 300", "", true},
		{[]string{"render", "--help"}, exitOK, "--address", "", true},
		{[]string{"status", "--help"}, exitOK, "3 reachable but degraded", "", true},
		{[]string{"cleanup", "--help"}, exitOK, "example:", "", true},
		{[]string{"check", "--help"}, exitOK, "--timeout", "", true},
		{[]string{"manifests", "--help"}, exitOK, "--virtual-ips", "", true},
		{[]string{"rendr"}, exitInvalid, "", `did you mean "render"?`, false},
		{[]string{"stauts"}, exitInvalid, "", `did you mean "status"?`, false},
		{[]string{"frobnicate"}, exitInvalid, "", `unknown command "frobnicate"`, false},
		{[]string{"--bogus"}, exitInvalid, "", "unknown flag: --bogus", false},
		{[]string{"render", "--adress", "192.0.2.1"}, exitInvalid, "", "did you mean --address?", false},
		{[]string{"status", "--jsn"}, exitInvalid, "", "did you mean --json?", false},
		{[]string{"manifests", "--virtual-ip", "192.0.2.1"}, exitInvalid, "", "did you mean --virtual-ips?", false},
		{[]string{"check", "tcp"}, exitInvalid, "", "usage: ipfailover check tcp", false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := realMain(tt.args, &stdout, &stderr, nil)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout.String(), stderr.String())
			}
			if tt.stdout == "" && stdout.Len() > 0 || !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdout, stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) || tt.noStderr && stderr.Len() > 0 {
				t.Errorf("stderr lacks %q (or is not empty):\n%s", tt.stderr, stderr.String())
			}
		})
	}
}

// TestReadmeListsEveryVariable keeps the README's configuration table and
// `run --help` (both from env.Variables) in sync: every variable has a row,
// and the row shows the default the agent applies.
func TestReadmeListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // variable -> default cell
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		for _, name := range strings.Split(cells[1], ",") {
			rows[strings.Trim(strings.TrimSpace(name), "`")] = cells[2]
		}
	}
	for _, v := range env.Variables() {
		def, ok := rows[v.Name]
		if !ok {
			t.Errorf("README's configuration table has no row for %s", v.Name)
			continue
		}
		if v.Default != "" && !strings.Contains(def, v.Default) {
			t.Errorf("README says the default of %s is %q; the agent applies %q", v.Name, strings.TrimSpace(def), v.Default)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"run", "extra"}, {"cleanup", "extra"}, {"render", "--bogus"}, {"status", "--bogus"}, {"check", "tcp", "127.0.0.1:1", "--bogus"}, {"manifests", "--bogus"}} {
		var stdout, stderr bytes.Buffer
		if code := realMain(args, &stdout, &stderr, nil); code != exitInvalid {
			t.Errorf("%q: exit %d, want %d", args, code, exitInvalid)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"help"}, &stdout, &stderr, nil); code != exitOK || !strings.Contains(stdout.String(), "commands:") {
		t.Errorf("help: exit %d", code)
	}
}

func TestReportError(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{errors.New("boom"), exitFailure},
		{fmt.Errorf("install: %w", &supervisor.ForeignFileError{Path: "/etc/keepalived/keepalived.conf"}), exitInvalid},
		{&supervisor.LockedError{Path: "/run/ipfailover/x.lock", PID: 7}, exitInvalid},
		{&env.InvalidError{Problems: []env.Problem{{Variable: "OPENSHIFT_HA_VIRTUAL_IPS", Value: "x", Reason: "bad"}}}, exitInvalid},
	} {
		var stderr bytes.Buffer
		if got := reportError(&stderr, c.err); got != c.want || stderr.Len() == 0 {
			t.Errorf("%v: exit %d, want %d (%q)", c.err, got, c.want, stderr.String())
		}
	}
}

// TestStatusSegment: --segment reads /segment and exits 3 while the
// segment has a conflict.
func TestStatusSegment(t *testing.T) {
	var doc atomic.Value
	doc.Store(`{"groups":[{"vrid":11,"family":"ipv4"}]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/segment" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, doc.Load())
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"status", "--segment", "--address", addr}, &stdout, &stderr, nil); code != exitOK {
		t.Errorf("quiet segment: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	doc.Store(`{"groups":[{"vrid":11,"family":"ipv4"}],"conflicts":[{"kind":"collision","vrid":11,"family":"ipv4"}]}`)
	if code := realMain([]string{"status", "--segment", "--json", "--address", addr}, &stdout, &stderr, nil); code != exitDegraded {
		t.Errorf("conflict: exit %d, want %d\n%s", code, exitDegraded, stderr.String())
	}
}
