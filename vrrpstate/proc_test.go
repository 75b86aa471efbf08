package vrrpstate

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func itoa(n int) string { return strconv.Itoa(n) }

// hasSig reports whether the hex signal mask has signal sig set.
func hasSig(mask string, sig int) bool {
	v, err := strconv.ParseUint(mask, 16, 64)
	return err == nil && v&(1<<(sig-1)) != 0
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		in   string
		want Proc
	}{
		{"12 (keepalived) S 1 12 12 0 -1", Proc{12, 1, "keepalived", 'S'}},
		{"13 (keepalived) T 12 12 12 0 -1", Proc{13, 12, "keepalived", 'T'}},
		{"14 (a) b) (c) R 2 3", Proc{14, 2, "a) b) (c", 'R'}},
	}
	for _, tt := range tests {
		got, err := parseStat([]byte(tt.in))
		if err != nil || got != tt.want {
			t.Errorf("parseStat(%q) = %+v, %v", tt.in, got, err)
		}
	}
	if _, err := parseStat([]byte("garbage")); err == nil {
		t.Error("garbage parsed")
	}
	if !(Proc{State: 'T'}).Stopped() || !(Proc{State: 't'}).Stopped() || (Proc{State: 'S'}).Stopped() {
		t.Error("Stopped")
	}
}

func TestProcTree(t *testing.T) {
	root := t.TempDir()
	for pid, stat := range map[string]string{
		"1":  "1 (init) S 0 1 1",
		"10": "10 (keepalived) S 1 10 10",
		"11": "11 (keepalived) T 10 10 10",
		"12": "12 (chk.sh) S 11 12 12",
		"20": "20 (other) S 1 20 20",
	} {
		os.MkdirAll(filepath.Join(root, pid), 0o755)
		os.WriteFile(filepath.Join(root, pid, "stat"), []byte(stat), 0o644)
	}
	got, err := ProcTree(root, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].PID != 10 || got[1].PID != 11 || !got[1].Stopped() || got[2].PID != 12 {
		t.Fatalf("tree %+v", got)
	}
	if _, err := ProcTree(root, 99); err == nil {
		t.Fatal("missing pid found")
	}
	if self, err := ProcTree("/proc", os.Getpid()); err != nil || self[0].PID != os.Getpid() {
		t.Fatalf("own tree %+v %v", self, err)
	}
}
