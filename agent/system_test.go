package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/supervisor"
)

// fakeKeepalived installs a keepalived on a PATH of its own: a script
// answering --signum=JSON with signum and -t with exit code check.
func fakeKeepalived(t *testing.T, signum string, check int) KeepalivedBinary {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\ncase \"$1\" in\n--signum=JSON) echo " + signum + ";;\n-t) echo checked; exit " + strconv.Itoa(check) + ";;\nesac\n"
	if err := os.WriteFile(filepath.Join(dir, "keepalived"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	k, err := FindKeepalived()
	if err != nil {
		t.Fatal(err)
	}
	if k.Path != filepath.Join(dir, "keepalived") {
		t.Fatalf("found %s", k.Path)
	}
	return k
}

func TestKeepalivedBinary(t *testing.T) {
	ctx := context.Background()
	k := fakeKeepalived(t, "36", 0)
	if sig, err := k.JSONSignal(ctx); err != nil || sig != 36 {
		t.Errorf("JSONSignal: %v %v", sig, err)
	}
	if err := k.CheckConfig(ctx, []byte("global_defs {}\n"), time.Second); err != nil {
		t.Errorf("CheckConfig: %v", err)
	}
	k = fakeKeepalived(t, "SIGRTMIN+2", 1)
	if _, err := k.JSONSignal(ctx); err == nil || !strings.Contains(err.Error(), "not a signal number") {
		t.Errorf("JSONSignal of garbage: %v", err)
	}
	if err := k.CheckConfig(ctx, []byte("bad\n"), time.Second); !errors.Is(err, supervisor.ErrConfigCheck) {
		t.Errorf("CheckConfig of a rejected config: %v", err)
	}
	if err := (KeepalivedBinary{Path: "/nonexistent/keepalived"}).Supervise(ctx, supervisor.Options{}, nil); err == nil {
		t.Error("Supervise without a config path succeeded")
	}
}

func TestNoKeepalived(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if _, err := FindKeepalived(); err == nil || !strings.HasPrefix(err.Error(), "keepalived binary: ") {
		t.Errorf("FindKeepalived: %v", err)
	}
	if _, err := (IPTables{}).Open(false); err == nil {
		t.Error("iptables opened without a binary")
	}
}

// TestHostFiles: the files the agent keeps for keepalived go through
// package supervisor's checks.
func TestHostFiles(t *testing.T) {
	var k KeepalivedBinary
	dir := filepath.Join(t.TempDir(), "run")
	if err := k.PrepareRunDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := k.CheckConfigPath(filepath.Join(dir, "keepalived.conf")); err != nil {
		t.Error(err)
	}
	unlock, err := k.Lock(dir + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	var locked *supervisor.LockedError
	if _, err := k.Lock(dir + ".lock"); !errors.As(err, &locked) {
		t.Errorf("second lock: %v", err)
	}
	d := HostDeps(nil, "v")
	if d.Keepalived != nil || d.Firewall == nil || d.OpenNet == nil || d.Version != "v" {
		t.Errorf("HostDeps %+v", d)
	}
	n, err := d.OpenNet()
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
}
