package lab

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTrace(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	fail := errors.New("timeout")
	for _, tc := range []struct {
		name      string
		samples   []Sample
		end       int
		wantGap   time.Duration
		answerers []string
	}{
		{"no samples", nil, 500, 500 * time.Millisecond, nil},
		{"all fail", []Sample{{At: at(0), Err: fail}, {At: at(100), Err: fail}}, 300, 300 * time.Millisecond, nil},
		{"handover", []Sample{
			{At: at(0), Node: "n1"}, {At: at(20), Node: "n1"}, {At: at(40), Err: fail},
			{At: at(160), Err: fail}, {At: at(700), Node: "n2"}, {At: at(720), Node: "n2"},
		}, 730, 680 * time.Millisecond, []string{"n1", "n2"}},
		{"leading failures", []Sample{{At: at(0), Err: fail}, {At: at(400), Node: "n1"}}, 410, 400 * time.Millisecond, []string{"n1"}},
		{"trailing failures", []Sample{{At: at(0), Node: "n1"}, {At: at(20), Err: fail}}, 900, 900 * time.Millisecond, []string{"n1"}},
		{"flapping", []Sample{{At: at(0), Node: "n1"}, {At: at(10), Node: "n2"}, {At: at(20), Node: "n1"}}, 30, 10 * time.Millisecond, []string{"n1", "n2", "n1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := Trace{Start: t0, End: at(tc.end), Samples: tc.samples}
			if g := tr.LongestGap().Duration(); g != tc.wantGap {
				t.Errorf("LongestGap = %v, want %v", g, tc.wantGap)
			}
			if a := tr.Answerers(); !slices.Equal(a, tc.answerers) {
				t.Errorf("Answerers = %v, want %v", a, tc.answerers)
			}
		})
	}
	tr := Trace{Start: t0, Samples: []Sample{{At: at(0), Node: "n1"}, {At: at(50), Err: fail}, {At: at(90), Node: "n2"}}}
	if got, ok := tr.FirstAnswerFrom(at(10), func(n string) bool { return n != "n1" }); !ok || !got.Equal(at(90)) {
		t.Errorf("FirstAnswerFrom = %v, %v; want %v", got, ok, at(90))
	}
	if _, ok := tr.FirstAnswerFrom(at(100), func(string) bool { return true }); ok {
		t.Error("FirstAnswerFrom after the last sample found one")
	}
}

func TestParseIPTablesS(t *testing.T) {
	out := `-P INPUT DROP
-A INPUT -d 224.0.0.18/32 -m comment --comment "ipfailover e2e vrrp" -j ACCEPT
-A INPUT -j E2E
-A INPUTX -j DROP
`
	policy, rules := parseIPTablesS(out, "INPUT")
	want := []string{`-d 224.0.0.18/32 -m comment --comment "ipfailover e2e vrrp" -j ACCEPT`, "-j E2E"}
	if policy != "DROP" || !slices.Equal(rules, want) {
		t.Errorf("parseIPTablesS = %q, %q; want DROP, %q", policy, rules, want)
	}
	if policy, rules := parseIPTablesS("-N E2E\n-A E2E -j ACCEPT\n", "E2E"); policy != "" || len(rules) != 1 {
		t.Errorf("user chain: %q, %q", policy, rules)
	}
}

func TestParseNetnsList(t *testing.T) {
	got := parseNetnsList("ipf-1a2b-n1 (id: 3)\nipf-1a2b-sw\n\nother (id: 0)\n")
	if want := []string{"ipf-1a2b-n1", "ipf-1a2b-sw", "other"}; !slices.Equal(got, want) {
		t.Errorf("parseNetnsList = %v, want %v", got, want)
	}
}

func TestHelperEnviron(t *testing.T) {
	env, mounts := helperEnviron([]string{
		"IPF_LAB_HELPER=init", "PATH=/bin", "IPF_LAB_TMPFS=/run::/etc/keepalived", "OPENSHIFT_HA_X=1",
	})
	if want := []string{"PATH=/bin", "OPENSHIFT_HA_X=1"}; !slices.Equal(env, want) {
		t.Errorf("env = %v, want %v", env, want)
	}
	if want := []string{"/run", "/etc/keepalived"}; !slices.Equal(mounts, want) {
		t.Errorf("mounts = %v, want %v", mounts, want)
	}
}

func TestHolding(t *testing.T) {
	a, b, c := netip.MustParseAddr("192.0.2.200"), netip.MustParseAddr("192.0.2.201"), netip.MustParseAddr("2001:db8::200")
	h := Holding{a: {"n1"}, b: {"n1", "n2"}, c: nil}
	if err := h.ExactlyOne(); err == nil || !strings.Contains(err.Error(), "192.0.2.201 on [n1 n2]") || !strings.Contains(err.Error(), "2001:db8::200 on []") {
		t.Errorf("ExactlyOne = %v", err)
	}
	if err := h.AtMostOne(); err == nil || strings.Contains(err.Error(), "2001:db8::200") {
		t.Errorf("AtMostOne = %v", err)
	}
	if got := h.HeldBy("n1"); !slices.Equal(got, []netip.Addr{a, b}) {
		t.Errorf("HeldBy(n1) = %v", got)
	}
	if err := (Holding{a: {"n2"}}).ExactlyOne(); err != nil {
		t.Errorf("ExactlyOne on a good holding = %v", err)
	}
}

// fakeRunner records commands and answers from a table keyed by the
// command line.
type fakeRunner struct {
	calls   []string
	answers map[string]string
}

func (f *fakeRunner) run(_ context.Context, name string, args ...string) ([]byte, error) {
	line := strings.Join(append([]string{name}, args...), " ")
	f.calls = append(f.calls, line)
	return []byte(f.answers[line]), nil
}

func TestDown(t *testing.T) {
	f := &fakeRunner{answers: map[string]string{
		"ip netns list": "ipf-aaaa-n1 (id: 1)\nipf-aaaa-sw\nipf-bbbb-n1\nmine\n",
	}}
	removed, err := down(context.Background(), f.run, "ipf-aaaa-")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ipf-aaaa-n1", "ipf-aaaa-sw"}; !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	for _, c := range f.calls {
		if strings.Contains(c, "bbbb") || strings.Contains(c, "mine") {
			t.Errorf("touched a namespace outside the prefix: %s", c)
		}
	}
	if _, err := down(context.Background(), f.run, ""); err == nil {
		t.Error(`down("") did not refuse`)
	}
	if _, err := down(context.Background(), f.run, "krn"); err == nil {
		t.Error(`down("krn") did not refuse`)
	}
}

func TestPoll(t *testing.T) {
	n := 0
	if err := Poll(context.Background(), time.Second, time.Millisecond, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || n != 3 {
		t.Errorf("Poll = %v after %d calls", err, n)
	}
	err := Poll(context.Background(), 20*time.Millisecond, time.Millisecond, func() error { return errors.New("never") })
	if err == nil || !strings.Contains(err.Error(), "never") {
		t.Errorf("Poll timeout error = %v, want it to wrap the last error", err)
	}
}
