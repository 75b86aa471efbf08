package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
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
			code := realMain(append([]string{"render"}, c.args...), &stdout, &stderr)
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
	if code := realMain([]string{"run"}, &stdout, &stderr); code != exitInvalid {
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
	if code := realMain([]string{"check", "tcp", addr, "--timeout", "2s"}, &stdout, &stderr); code != exitOK {
		t.Errorf("open port: exit %d (%s)", code, stderr.String())
	}
	l.Close()
	if code := realMain([]string{"check", "tcp", addr, "--timeout", "2s"}, &stdout, &stderr); code != exitFailure {
		t.Errorf("closed port: exit %d, want %d", code, exitFailure)
	}
	if code := realMain([]string{"check", "udp", addr}, &stdout, &stderr); code != exitInvalid {
		t.Errorf("bad usage: exit %d, want %d", code, exitInvalid)
	}
}

func TestVersionAndUnknownCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"version"}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), version) {
		t.Errorf("version: exit %d, stdout %q", code, stdout.String())
	}
	if code := realMain([]string{"frobnicate"}, &stdout, &stderr); code != exitInvalid {
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
	if code := realMain([]string{"status", "--address", addr}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "ipf_VIP_1") {
		t.Errorf("healthy agent: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if code := realMain([]string{"status", "--address", addr, "--json"}, &stdout, &stderr); code != exitOK || stdout.String() != healthy {
		t.Errorf("--json: exit %d, %q", code, stdout.String())
	}
	for _, body := range []string{strings.Replace(healthy, `"ready":true`, `"ready":false`, 1), "{"} {
		doc.Store(body)
		if code := realMain([]string{"status", "--address", addr}, &stdout, &stderr); code != exitFailure {
			t.Errorf("%s: exit %d, want %d", body, code, exitFailure)
		}
	}
	if code := realMain([]string{"status", "--address", "nope"}, &stdout, &stderr); code != exitInvalid {
		t.Errorf("bad address: exit %d", code)
	}
	t.Setenv("OPENSHIFT_HA_VIRTUAL_IPS", "192.0.2.100")
	t.Setenv("OPENSHIFT_HA_METRICS_ADDRESS", "")
	stderr.Reset()
	if code := realMain([]string{"status"}, &stdout, &stderr); code != exitInvalid || !strings.Contains(stderr.String(), "serves no status") {
		t.Errorf("no metrics address: exit %d, %s", code, stderr.String())
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"run", "extra"}, {"cleanup", "extra"}, {"render", "--bogus"}, {"status", "--bogus"}, {"check", "tcp", "127.0.0.1:1", "--bogus"}, {"manifests", "--bogus"}} {
		var stdout, stderr bytes.Buffer
		if code := realMain(args, &stdout, &stderr); code != exitInvalid {
			t.Errorf("%q: exit %d, want %d", args, code, exitInvalid)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"help"}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "commands:") {
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
