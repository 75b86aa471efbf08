package iptables

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedTable serialises a fakeTable between a running Keeper and the test,
// which changes the chain behind the Keeper's back under the same lock.
type lockedTable struct {
	mu sync.Mutex
	f  *fakeTable
}

func (l *lockedTable) ChainExists(table, chain string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.ChainExists(table, chain)
}

func (l *lockedTable) List(table, chain string) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.List(table, chain)
}

func (l *lockedTable) Insert(table, chain string, pos int, spec ...string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Insert(table, chain, pos, spec...)
}

func (l *lockedTable) Delete(table, chain string, spec ...string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Delete(table, chain, spec...)
}

func (l *lockedTable) do(fn func(f *fakeTable)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fn(l.f)
}

// syncBuffer is a log sink safe for the Keeper's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestKeeperCheck(t *testing.T) {
	other := []string{"-s", "10.0.0.0/8", "-j", "ACCEPT"}
	drop := []string{"-j", "DROP"}
	tests := []struct {
		name         string
		chain        [][]string
		wantRestored bool
		wantFound    string
		want         [][]string
	}{
		{"in place: nothing written", [][]string{ruleA.Spec(), other}, false, "", [][]string{ruleA.Spec(), other}},
		{"behind another configuration's VRRP rule: fine", [][]string{ruleB.Spec(), ruleA.Spec()}, false, "", [][]string{ruleB.Spec(), ruleA.Spec()}},
		{"deleted", [][]string{other}, true, "no rule carries the tag", [][]string{ruleA.Spec(), other}},
		{"displaced behind a DROP", [][]string{drop, ruleA.Spec()}, true, "#2", [][]string{ruleA.Spec(), drop}},
		{"others' rules untouched", [][]string{ruleB.Spec(), other, drop}, true, "no rule carries the tag",
			[][]string{ruleA.Spec(), ruleB.Spec(), other, drop}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake("INPUT")
			f.chains["INPUT"] = slices.Clone(tc.chain)
			var logs syncBuffer
			var hooked []Rule
			k := &Keeper{Table: f, Rule: ruleA, Log: slog.New(slog.NewTextHandler(&logs, nil)),
				OnRestore: func(r Rule) { hooked = append(hooked, r) }}
			restored, err := k.Check()
			if err != nil {
				t.Fatal(err)
			}
			if restored != tc.wantRestored {
				t.Errorf("restored = %v, want %v", restored, tc.wantRestored)
			}
			if !slices.EqualFunc(f.chains["INPUT"], tc.want, slices.Equal) {
				t.Errorf("chain = %v, want %v", f.chains["INPUT"], tc.want)
			}
			wantN := map[bool]uint64{false: 0, true: 1}[tc.wantRestored]
			if k.Restored() != wantN || uint64(len(hooked)) != wantN {
				t.Errorf("Restored() = %d, hook calls %d, want %d", k.Restored(), len(hooked), wantN)
			}
			lines := strings.Count(logs.String(), "\n")
			if !tc.wantRestored {
				if lines != 0 {
					t.Errorf("logged %q for a rule in place", logs.String())
				}
				return
			}
			l := logs.String()
			if lines != 1 || !strings.Contains(l, "level=WARN") || !strings.Contains(l, "chain=INPUT") ||
				!strings.Contains(l, "family=ipv4") || !strings.Contains(l, tc.wantFound) {
				t.Errorf("want one WARN line naming chain, family and %q; got %q", tc.wantFound, l)
			}
		})
	}
}

// TestKeeperRunRestoresDeletedRule: a rule deleted while Run runs is back
// within a few intervals, and Run keeps going after a missing chain.
func TestKeeperRunRestoresDeletedRule(t *testing.T) {
	lt := &lockedTable{f: newFake("INPUT")}
	lt.do(func(f *fakeTable) { f.chains["INPUT"] = [][]string{ruleB.Spec(), ruleA.Spec()} })
	restoredC := make(chan Rule, 16)
	var logs syncBuffer
	k := &Keeper{Table: lt, Rule: ruleA, Interval: 10 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		OnRestore: func(r Rule) { restoredC <- r }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()

	waitRestore := func() {
		t.Helper()
		select {
		case r := <-restoredC:
			if r != ruleA {
				t.Errorf("hook got %+v", r)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("rule not restored within 5s")
		}
	}

	lt.do(func(f *fakeTable) { f.chains["INPUT"] = [][]string{ruleB.Spec()} })
	waitRestore()
	lt.do(func(f *fakeTable) {
		if want := [][]string{ruleA.Spec(), ruleB.Spec()}; !slices.EqualFunc(f.chains["INPUT"], want, slices.Equal) {
			t.Errorf("chain = %v, want %v", f.chains["INPUT"], want)
		}
	})

	// The chain vanishes (firewall reload) and comes back empty.
	lt.do(func(f *fakeTable) { delete(f.chains, "INPUT") })
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "chain of the multicast accept rule is gone") {
		if time.Now().After(deadline) {
			t.Fatalf("missing chain not logged: %s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	lt.do(func(f *fakeTable) { f.chains["INPUT"] = nil })
	waitRestore()
	if n := k.Restored(); n != 2 {
		t.Errorf("Restored() = %d, want 2", n)
	}
	if n := strings.Count(logs.String(), "chain of the multicast accept rule is gone"); n != 1 {
		t.Errorf("missing chain logged %d times, want once", n)
	}
}

func TestKeeperCheckError(t *testing.T) {
	f := newFake("INPUT")
	f.insertErr = errors.New("xtables lock held")
	k := &Keeper{Table: f, Rule: ruleA}
	if _, err := k.Check(); err == nil || !strings.Contains(err.Error(), "xtables lock held") {
		t.Errorf("Check = %v, want the insert error", err)
	}
	if k.Restored() != 0 {
		t.Error("a failed insert was counted as a restoration")
	}
}

func TestValidChain(t *testing.T) {
	for _, ok := range []string{"INPUT", "OPENSHIFT-FW.in_1", strings.Repeat("A", 28)} {
		if err := ValidChain(ok); err != nil {
			t.Errorf("ValidChain(%q) = %v", ok, err)
		}
	}
	for _, tc := range []struct{ name, want string }{
		{"", "empty"},
		{"-F", "option"},
		{"IN PUT", "' '"},
		{"IN\tPUT", `'\t'`},
		{"a;reboot", "';'"},
		{`a"b`, `'"'`},
		{"é", `'é' at byte 0`},
		{strings.Repeat("A", 29), "29 bytes"},
	} {
		err := ValidChain(tc.name)
		if err == nil {
			t.Errorf("ValidChain(%q) accepted", tc.name)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || !strings.Contains(msg, "accepted are 1 to 28 characters") {
			t.Errorf("ValidChain(%q) = %q, want mention of %q and what is accepted", tc.name, msg, tc.want)
		}
	}
	if err := Ensure(newFake("INPUT"), Rule{Chain: "a;b", Tag: "x"}); err == nil || !strings.Contains(err.Error(), "accepted are") {
		t.Errorf("Ensure with a bad chain = %v", err)
	}
}
