package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// configMapDir lays out dir like a Kubernetes ConfigMap volume:
// dir/..data -> ..v1, dir/check.sh -> ..data/check.sh.
func configMapDir(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "..v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "..v1", "check.sh"), []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..v1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/check.sh", filepath.Join(dir, "check.sh")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// swapConfigMap updates dir the way the kubelet does: new version dir, new
// symlink, atomic rename over ..data, old version removed.
func swapConfigMap(t *testing.T, dir, version, content string) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(dir, version), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, version, "check.sh"), []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(version, filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

func TestWatchConfigMapSwapTriggersOneDebouncedReload(t *testing.T) {
	cm := configMapDir(t, "#!/bin/sh\nexit 0\n")
	script := filepath.Join(cm, "check.sh")
	h := newHarness(t)
	o := h.options()
	o.WatchPaths = []string{"", script}
	o.Debounce = 100 * time.Millisecond
	o.Render = func(context.Context) ([]byte, error) {
		b, err := os.ReadFile(script)
		return append([]byte("vrrp_script chk { # "), append(b, '}')...), err
	}
	h.start(o)
	p := h.fx.waitStarted(t)
	h.ev.next(t, EventReady)

	// A burst: an unrelated file, two ConfigMap swaps, and noise, all well
	// within one debounce period.
	if err := os.WriteFile(filepath.Join(cm, "unrelated"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	swapConfigMap(t, cm, "..v2", "#!/bin/sh\nexit 1\n")
	swapConfigMap(t, cm, "..v3", "#!/bin/sh\nexit 2\n")

	ev, _ := h.ev.next(t, EventReloadOK, EventReloadUnchanged, EventReloadFailed)
	if ev.Kind != EventReloadOK || ev.Trigger != TriggerWatch {
		t.Fatalf("event %s/%s, want reload_ok/watch", ev.Kind, ev.Trigger)
	}
	h.ev.next(t, EventHUPSent)
	if got := h.readConf(); !strings.Contains(got, "exit 2") {
		t.Errorf("config = %q, want the last version", got)
	}
	// Flush the event stream with a SIGHUP: any second watch reload from the
	// same burst would have to show up before its result.
	h.hup <- struct{}{}
	ev, skipped := h.ev.next(t, EventReloadUnchanged)
	if ev.Trigger != TriggerSIGHUP || len(skipped) != 0 {
		t.Errorf("after the burst: %s/%s, skipped %v; want only one watch reload", ev.Kind, ev.Trigger, kindsOf(skipped))
	}
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	hups := 0
	for _, s := range p.signals() {
		if s.String() == "hangup" {
			hups++
		}
	}
	if hups != 1 {
		t.Errorf("SIGHUPs = %d, want 1", hups)
	}
}

func TestWatcherRelevant(t *testing.T) {
	dir := t.TempDir()
	fw, err := newFileWatcher([]string{filepath.Join(dir, "check.sh"), filepath.Join(dir, "notify.sh"), ""}, testLogger(t))
	if err != nil || fw == nil {
		t.Fatalf("newFileWatcher: %v, %v", fw, err)
	}
	defer fw.w.Close()
	tests := []struct {
		name string
		want bool
	}{
		{filepath.Join(dir, "check.sh"), true},
		{filepath.Join(dir, "notify.sh"), true},
		{filepath.Join(dir, "..data"), true},
		{filepath.Join(dir, "..data_tmp"), false},
		{filepath.Join(dir, "other"), false},
		{filepath.Join(dir, "sub", "check.sh"), false},
		{"/elsewhere/check.sh", false},
	}
	for _, tc := range tests {
		if got := fw.relevant(fsnotify.Event{Name: tc.name, Op: fsnotify.Write}); got != tc.want {
			t.Errorf("relevant(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestWatcherNothingToWatch(t *testing.T) {
	tests := [][]string{nil, {""}, {"/nonexistent-dir-for-test/x.sh"}}
	for _, paths := range tests {
		fw, err := newFileWatcher(paths, testLogger(t))
		if fw != nil || err != nil {
			t.Errorf("newFileWatcher(%q) = %v, %v; want nil, nil", paths, fw, err)
		}
	}
}
