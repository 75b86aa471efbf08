package supervisor

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const realKeepalived = "/usr/sbin/keepalived"

func needRealKeepalived(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(realKeepalived); err != nil {
		t.Skipf("%s not installed", realKeepalived)
	}
	if os.Geteuid() != 0 {
		t.Skip("keepalived -t needs root")
	}
}

func TestRealKeepalivedCheck(t *testing.T) {
	needRealKeepalived(t)
	tests := []struct {
		name    string
		config  string // "" = file missing
		wantErr string
	}{
		{"valid", "global_defs {\n router_id t1\n}\n", ""},
		{"unknown keyword", "global_defs {\n bogus_keyword 1\n}\n", "Unknown keyword 'bogus_keyword'"},
		{"missing file (needs -e)", "", "missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "keepalived.conf")
			if tc.config != "" {
				if err := os.WriteFile(file, []byte(tc.config), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cs := &configStore{path: file, binary: realKeepalived, exec: OSExecer{}, timeout: 10 * time.Second}
			err := cs.check(context.Background(), file)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("check: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfigCheck) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("check error %v, want ErrConfigCheck mentioning %q", err, tc.wantErr)
			}
		})
	}
}

// TestRealKeepalivedLifecycle runs the real keepalived under Run, inside a
// private network namespace with a veth pair, through start, readiness, a
// changed-config SIGHUP and a graceful stop.
func TestRealKeepalivedLifecycle(t *testing.T) {
	needRealKeepalived(t)
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found", tool)
		}
	}
	dir := t.TempDir()
	// unshare and sh exec in place, so the pid the supervisor signals is
	// keepalived's own.
	wrapper := filepath.Join(dir, "keepalived-netns")
	script := "#!/bin/sh\nexec unshare --net sh -c 'ip link add svd0 type veth peer name svd1 && ip link set svd0 up && ip link set svd1 up && exec " +
		realKeepalived + " \"$@\"' sh \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	prio := "100"
	render := func(context.Context) ([]byte, error) {
		return []byte("global_defs {\n router_id svtest\n max_auto_priority -1\n}\n" +
			"vrrp_instance VI_1 {\n state BACKUP\n interface svd0\n virtual_router_id 51\n priority " + prio +
			"\n advert_int 1\n virtual_ipaddress {\n  192.0.2.200/24\n }\n}\n"), nil
	}
	h := newHarness(t)
	o := h.options()
	lines := make(chan string, 256)
	o.Logger = slog.New(teeHandler{Handler: o.Logger.Handler(), lines: lines})
	o.Binary = wrapper
	o.ExtraArgs = nil
	o.Exec = OSExecer{}
	o.Render = render
	o.StopTimeout = 5 * time.Second
	o.ReadyTimeout = 10 * time.Second // readiness must come from the log line
	h.start(o)

	ev, _ := h.ev.next(t, EventStarted)
	pid := ev.PID
	h.ev.next(t, EventReady)
	prio = "90" // read only by Run's goroutine after the hup below
	h.hup <- struct{}{}
	h.ev.next(t, EventReloadOK)
	if ev, _ := h.ev.next(t, EventHUPSent); ev.PID != pid {
		t.Errorf("HUP to %d, want %d", ev.PID, pid)
	}
	if !strings.Contains(h.readConf(), "priority 90") {
		t.Error("new config not installed")
	}
	waitLine(t, lines, "Reload complete")
	if _, err := os.Stat(filepath.Join(h.run, "vrrp.pid")); err != nil {
		t.Errorf("pid file not in RunDir: %v", err)
	}

	// A crash of the parent: the supervisor must restart keepalived, but
	// only after the orphaned VRRP child (SIGTERMed through PDEATHSIG, about
	// 1 s to exit) is gone.
	b, err := os.ReadFile(filepath.Join(h.run, "vrrp.pid"))
	if err != nil {
		t.Fatal(err)
	}
	vrrpPID, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ev, _ = h.ev.next(t, EventExited)
	if ev.Expected || ev.Status.Signal != syscall.SIGKILL {
		t.Errorf("crash event %+v", ev)
	}
	ev, _ = h.ev.next(t, EventStarted)
	if ev.PID == pid {
		t.Error("not restarted")
	}
	if isLiveKeepalived(vrrpPID) {
		t.Errorf("old VRRP child %d still alive when the new keepalived started", vrrpPID)
	}
	h.ev.next(t, EventReady)
	if n := h.rel.count(); n != 1 {
		t.Errorf("ReleaseVIPs after crash called %d times, want 1", n)
	}

	t0 := time.Now()
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	var exited *Event
	for len(h.ev.ch) > 0 {
		e := <-h.ev.ch
		if e.Kind == EventExited {
			exited = &e
		}
		if e.Kind == EventExited && !e.Expected {
			t.Errorf("keepalived exited unexpectedly (HUP killed it?): %+v", e)
		}
	}
	if exited == nil || !exited.Expected || exited.Status.Code != 0 || exited.Status.Signal != 0 {
		t.Errorf("stop exit event %+v, want exit code 0", exited)
	}
	if took > 2500*time.Millisecond {
		t.Errorf("stop took %v, want about 1 s", took)
	}
	t.Logf("graceful stop took %v", took)
}

// teeHandler also sends every message to lines (dropping when full).
type teeHandler struct {
	slog.Handler
	lines chan string
}

func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	select {
	case h.lines <- r.Message:
	default:
	}
	return h.Handler.Handle(ctx, r)
}

func (h teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{Handler: h.Handler.WithAttrs(as), lines: h.lines}
}

func waitLine(t *testing.T, lines <-chan string, substr string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l := <-lines:
			if strings.Contains(l, substr) {
				return
			}
		case <-deadline:
			t.Fatalf("no log line containing %q", substr)
		}
	}
}
