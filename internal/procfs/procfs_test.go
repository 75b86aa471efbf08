package procfs

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Proc
		err  bool
	}{
		{"12 (keepalived) S 1 12 12 0 -1", Proc{PID: 12, PPID: 1, Comm: "keepalived", State: 'S'}, false},
		{"13 (keepalived) T 12 12 12 0 -1", Proc{PID: 13, PPID: 12, Comm: "keepalived", State: 'T'}, false},
		{"40 (sleep) Z 12 40 40 0", Proc{PID: 40, PPID: 12, Comm: "sleep", State: 'Z'}, false},
		{"7 (a (b) c) R 3 7", Proc{PID: 7, PPID: 3, Comm: "a (b) c", State: 'R'}, false},
		{"14 (a) b) (c) R 2 3", Proc{PID: 14, PPID: 2, Comm: "a) b) (c", State: 'R'}, false},
		{"7 no comm", Proc{}, true},
		{"x (a) S 1", Proc{}, true},
		{"7 (a) S", Proc{}, true},
		{"garbage", Proc{}, true},
	} {
		got, err := ParseStat([]byte(tc.in))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseStat(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestStates(t *testing.T) {
	for _, c := range []struct {
		state                 byte
		zombie, stopped, live bool
	}{
		{'S', false, false, true}, {'T', false, true, true}, {'t', false, true, true},
		{'Z', true, false, false}, {'X', false, false, false},
	} {
		p := Proc{State: c.state}
		if p.Zombie() != c.zombie || p.Stopped() != c.stopped || p.Live() != c.live {
			t.Errorf("state %c: zombie %v stopped %v live %v", c.state, p.Zombie(), p.Stopped(), p.Live())
		}
	}
}

func TestListAndTree(t *testing.T) {
	root := t.TempDir()
	for pid, stat := range map[string]string{
		"1":    "1 (init) S 0 1 1",
		"10":   "10 (keepalived) S 1 10 10",
		"11":   "11 (keepalived) T 10 10 10",
		"12":   "12 (chk.sh) Z 11 12 12",
		"20":   "20 (other) S 1 20 20",
		"self": "not a process",
	} {
		if err := os.MkdirAll(filepath.Join(root, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, pid, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	procs, err := List(root)
	if err != nil || len(procs) != 5 {
		t.Fatalf("List = %+v, %v; want 5 processes", procs, err)
	}
	var got []int
	for _, p := range Tree(procs, 10) {
		got = append(got, p.PID)
	}
	if want := []int{10, 11, 12}; !slices.Equal(got, want) {
		t.Errorf("Tree(10) = %v, want %v", got, want)
	}
	if tr := Tree(procs, 99); tr != nil {
		t.Errorf("Tree of a missing root = %v, want nil", tr)
	}
	if p, err := Read("/proc", os.Getpid()); err != nil || p.PID != os.Getpid() || !p.Live() {
		t.Errorf("Read(own pid) = %+v, %v", p, err)
	}
}
