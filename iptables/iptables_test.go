package iptables

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// fakeTable is an in-memory filter table. Rules are stored as rulespecs and
// listed the way iptables -S prints them, quotes included.
type fakeTable struct {
	chains map[string][][]string
	// calls records every write as "insert CHAIN POS SPEC" / "delete CHAIN SPEC".
	calls []string
	// ignoreInsert makes Insert report success without changing anything,
	// to provoke read-back failures.
	ignoreInsert bool
	insertErr    error
	deleteErr    error
	listErr      error
}

type notExistErr struct{}

func (notExistErr) Error() string    { return "Bad rule (does a matching rule exist in that chain?)." }
func (notExistErr) IsNotExist() bool { return true }

func newFake(chains ...string) *fakeTable {
	f := &fakeTable{chains: map[string][][]string{}}
	for _, c := range chains {
		f.chains[c] = nil
	}
	return f
}

func (f *fakeTable) ChainExists(table, chain string) (bool, error) {
	if table != "filter" {
		return false, fmt.Errorf("unexpected table %q", table)
	}
	_, ok := f.chains[chain]
	return ok, nil
}

func (f *fakeTable) List(table, chain string) ([]string, error) {
	if f.listErr != nil {
		return nil, f.listErr
	}
	rules, ok := f.chains[chain]
	if !ok {
		return nil, notExistErr{}
	}
	out := []string{"-P " + chain + " ACCEPT"}
	for _, spec := range rules {
		out = append(out, "-A "+chain+" "+quoteSpec(spec))
	}
	return out, nil
}

func quoteSpec(spec []string) string {
	words := make([]string, len(spec))
	for i, w := range spec {
		if strings.ContainsAny(w, " \"\\") {
			w = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(w) + `"`
		}
		words[i] = w
	}
	return strings.Join(words, " ")
}

func (f *fakeTable) Insert(table, chain string, pos int, spec ...string) error {
	f.calls = append(f.calls, fmt.Sprintf("insert %s %d %s", chain, pos, quoteSpec(spec)))
	if f.insertErr != nil {
		return f.insertErr
	}
	if f.ignoreInsert {
		return nil
	}
	rules, ok := f.chains[chain]
	if !ok {
		return notExistErr{}
	}
	if pos < 1 || pos > len(rules)+1 {
		return fmt.Errorf("Index of insertion too big")
	}
	f.chains[chain] = slices.Insert(rules, pos-1, slices.Clone(spec))
	return nil
}

func (f *fakeTable) Delete(table, chain string, spec ...string) error {
	f.calls = append(f.calls, fmt.Sprintf("delete %s %s", chain, quoteSpec(spec)))
	if f.deleteErr != nil {
		return f.deleteErr
	}
	rules := f.chains[chain]
	for i, r := range rules {
		if slices.Equal(r, spec) {
			f.chains[chain] = slices.Delete(rules, i, i+1)
			return nil
		}
	}
	return notExistErr{}
}

// listing returns the chain as iptables -S would print it.
func (f *fakeTable) listing(t *testing.T, chain string) []string {
	t.Helper()
	out, err := f.List("filter", chain)
	if err != nil {
		t.Fatalf("list %s: %v", chain, err)
	}
	return out
}

func words(s string) []string { w, _ := splitRule(s); return w }

var (
	ruleA   = Rule{Chain: "INPUT", Tag: TagFor("a")}
	ruleB   = Rule{Chain: "INPUT", Tag: TagFor("b")}
	ruleA6  = Rule{Chain: "INPUT", IPv6: true, Tag: TagFor("a")}
	lineA   = `-A INPUT -d 224.0.0.18/32 -m comment --comment "ipfailover a vrrp" -j ACCEPT`
	lineB   = `-A INPUT -d 224.0.0.18/32 -m comment --comment "ipfailover b vrrp" -j ACCEPT`
	lineA6  = `-A INPUT -d ff02::12/128 -m comment --comment "ipfailover a vrrp" -j ACCEPT`
	drop    = words("-s 198.51.100.7/32 -j DROP")
	dropLn  = "-A INPUT -s 198.51.100.7/32 -j DROP"
	other   = words("-p tcp --dport 22 -j ACCEPT")
	otherLn = "-A INPUT -p tcp --dport 22 -j ACCEPT"
)

func TestSpec(t *testing.T) {
	tests := []struct {
		rule Rule
		want string
	}{
		{ruleA, `-d 224.0.0.18/32 -m comment --comment "ipfailover a vrrp" -j ACCEPT`},
		{ruleA6, `-d ff02::12/128 -m comment --comment "ipfailover a vrrp" -j ACCEPT`},
	}
	for _, tc := range tests {
		if got := quoteSpec(tc.rule.Spec()); got != tc.want {
			t.Errorf("Spec(%+v) = %s, want %s", tc.rule, got, tc.want)
		}
	}
}

func TestEnsure(t *testing.T) {
	tests := []struct {
		name      string
		rule      Rule
		start     [][]string
		want      []string // listing after Ensure, without the -P line
		wantCalls int      // number of writes; -1 means "do not check"
	}{
		{
			name:      "empty chain gets the rule",
			rule:      ruleA,
			want:      []string{lineA},
			wantCalls: 1,
		},
		{
			name:      "rule goes in front of existing rules",
			rule:      ruleA,
			start:     [][]string{drop, other},
			want:      []string{lineA, dropLn, otherLn},
			wantCalls: 1,
		},
		{
			name:      "already first: nothing written",
			rule:      ruleA,
			start:     [][]string{ruleA.Spec(), drop},
			want:      []string{lineA, dropLn},
			wantCalls: 0,
		},
		{
			name:      "behind a DROP: moved to the top",
			rule:      ruleA,
			start:     [][]string{drop, other, ruleA.Spec()},
			want:      []string{lineA, dropLn, otherLn},
			wantCalls: 2,
		},
		{
			name:      "duplicates collapse to one at the top",
			rule:      ruleA,
			start:     [][]string{ruleA.Spec(), drop, ruleA.Spec(), ruleA.Spec()},
			want:      []string{lineA, dropLn},
			wantCalls: 4,
		},
		{
			name:      "tagged rule with another target is replaced",
			rule:      ruleA,
			start:     [][]string{words(`-d 224.0.0.18/32 -m comment --comment "ipfailover a vrrp" -j DROP`), drop},
			want:      []string{lineA, dropLn},
			wantCalls: 2,
		},
		{
			name:      "another configuration's rule is kept",
			rule:      ruleA,
			start:     [][]string{drop, ruleB.Spec()},
			want:      []string{lineA, dropLn, lineB},
			wantCalls: 1,
		},
		{
			name:      "behind another configuration's VRRP rule is fine",
			rule:      ruleA,
			start:     [][]string{ruleB.Spec(), ruleA.Spec(), drop},
			want:      []string{lineB, lineA, dropLn},
			wantCalls: 0,
		},
		{
			name:      "behind the untagged shell-era rule is fine",
			rule:      ruleA,
			start:     [][]string{words("-d 224.0.0.18/32 -j ACCEPT"), ruleA.Spec()},
			want:      []string{"-A INPUT -d 224.0.0.18/32 -j ACCEPT", lineA},
			wantCalls: 0,
		},
		{
			name:      "a 224.0.0.18 DROP does not count as ours",
			rule:      ruleA,
			start:     [][]string{words("-d 224.0.0.18/32 -j DROP")},
			want:      []string{lineA, "-A INPUT -d 224.0.0.18/32 -j DROP"},
			wantCalls: 1,
		},
		{
			name:      "IPv6 rule",
			rule:      ruleA6,
			start:     [][]string{drop},
			want:      []string{lineA6, dropLn},
			wantCalls: 1,
		},
		{
			name:      "IPv4 rule of the same tag does not satisfy IPv6",
			rule:      ruleA6,
			start:     [][]string{ruleA.Spec()},
			want:      []string{lineA6},
			wantCalls: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake("INPUT", "FORWARD")
			for _, s := range tc.start {
				f.chains["INPUT"] = append(f.chains["INPUT"], slices.Clone(s))
			}
			f.chains["FORWARD"] = [][]string{ruleA.Spec()} // other chains are never looked at
			if err := Ensure(f, tc.rule); err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			got := f.listing(t, "INPUT")[1:]
			if !slices.Equal(got, tc.want) {
				t.Errorf("chain after Ensure:\n got %q\nwant %q", got, tc.want)
			}
			if tc.wantCalls >= 0 && len(f.calls) != tc.wantCalls {
				t.Errorf("writes = %q, want %d of them", f.calls, tc.wantCalls)
			}
			if n := len(f.chains["FORWARD"]); n != 1 {
				t.Errorf("FORWARD chain was touched: %d rules", n)
			}
			// A second run must be a no-op.
			f.calls = nil
			if err := Ensure(f, tc.rule); err != nil {
				t.Fatalf("second Ensure: %v", err)
			}
			if len(f.calls) != 0 {
				t.Errorf("second Ensure wrote %q", f.calls)
			}
			ok, err := Present(f, tc.rule)
			if err != nil || !ok {
				t.Errorf("Present after Ensure = %v, %v; want true, nil", ok, err)
			}
		})
	}
}

func TestEnsureInsertCommand(t *testing.T) {
	f := newFake("INPUT")
	if err := Ensure(f, ruleA); err != nil {
		t.Fatal(err)
	}
	want := []string{`insert INPUT 1 -d 224.0.0.18/32 -m comment --comment "ipfailover a vrrp" -j ACCEPT`}
	if !slices.Equal(f.calls, want) {
		t.Errorf("calls = %q, want %q", f.calls, want)
	}
}

func TestEnsureErrors(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		rule      Rule
		setup     func(*fakeTable)
		wantNoCh  bool
		wantInErr []string
	}{
		{
			name:      "missing chain",
			rule:      Rule{Chain: "IPFAILOVER", Tag: TagFor("a")},
			wantNoCh:  true,
			wantInErr: []string{`"IPFAILOVER"`, "iptables"},
		},
		{
			name:      "missing chain ip6tables",
			rule:      Rule{Chain: "IPFAILOVER", IPv6: true, Tag: TagFor("a")},
			wantNoCh:  true,
			wantInErr: []string{`"IPFAILOVER"`, "ip6tables"},
		},
		{
			name:      "read back finds nothing",
			rule:      ruleA,
			setup:     func(f *fakeTable) { f.ignoreInsert = true },
			wantInErr: []string{"read back", "no rule carries the tag"},
		},
		{
			name:      "insert fails",
			rule:      ruleA,
			setup:     func(f *fakeTable) { f.insertErr = boom },
			wantInErr: []string{"insert", "boom"},
		},
		{
			name: "delete fails",
			rule: ruleA,
			setup: func(f *fakeTable) {
				f.chains["INPUT"] = [][]string{drop, ruleA.Spec()}
				f.deleteErr = boom
			},
			wantInErr: []string{"delete rule #2", "boom"},
		},
		{
			name:      "list fails",
			rule:      ruleA,
			setup:     func(f *fakeTable) { f.listErr = boom },
			wantInErr: []string{"list chain INPUT", "boom"},
		},
		{name: "empty tag", rule: Rule{Chain: "INPUT"}, wantInErr: []string{"tag"}},
		{name: "quote in tag", rule: Rule{Chain: "INPUT", Tag: `a"b`}, wantInErr: []string{"tag", "invalid"}},
		{name: "newline in tag", rule: Rule{Chain: "INPUT", Tag: "a\nb"}, wantInErr: []string{"invalid"}},
		{name: "long tag", rule: Rule{Chain: "INPUT", Tag: strings.Repeat("x", 256)}, wantInErr: []string{"at most 255"}},
		{name: "empty chain", rule: Rule{Tag: "x"}, wantInErr: []string{"chain name is empty"}},
		{name: "chain with space", rule: Rule{Chain: "IN PUT", Tag: "x"}, wantInErr: []string{`"IN PUT"`, "invalid"}},
		{name: "chain like an option", rule: Rule{Chain: "-F", Tag: "x"}, wantInErr: []string{`"-F"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake("INPUT")
			if tc.setup != nil {
				tc.setup(f)
			}
			err := Ensure(f, tc.rule)
			if err == nil {
				t.Fatal("Ensure succeeded, want error")
			}
			if got := errors.Is(err, ErrNoChain); got != tc.wantNoCh {
				t.Errorf("errors.Is(err, ErrNoChain) = %v, want %v (err: %v)", got, tc.wantNoCh, err)
			}
			for _, s := range tc.wantInErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestRemove(t *testing.T) {
	tests := []struct {
		name  string
		start [][]string
		want  []string
	}{
		{name: "absent", start: [][]string{drop}, want: []string{dropLn}},
		{name: "one", start: [][]string{ruleA.Spec(), drop}, want: []string{dropLn}},
		{
			name:  "duplicates and variants, other tag kept",
			start: [][]string{ruleA.Spec(), ruleB.Spec(), drop, ruleA.Spec(), words(`-d 224.0.0.18/32 -m comment --comment "ipfailover a vrrp" -j DROP`)},
			want:  []string{lineB, dropLn},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake("INPUT")
			f.chains["INPUT"] = tc.start
			if err := Remove(f, ruleA); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			if got := f.listing(t, "INPUT")[1:]; !slices.Equal(got, tc.want) {
				t.Errorf("chain after Remove:\n got %q\nwant %q", got, tc.want)
			}
			if err := Remove(f, ruleA); err != nil {
				t.Fatalf("second Remove: %v", err)
			}
			if ok, err := Present(f, ruleA); ok || err != nil {
				t.Errorf("Present after Remove = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

func TestRemoveMissingChain(t *testing.T) {
	f := newFake("INPUT")
	if err := Remove(f, Rule{Chain: "GONE", Tag: "x"}); err != nil {
		t.Errorf("Remove on a missing chain: %v, want nil", err)
	}
}

func TestRemoveReadBackFailure(t *testing.T) {
	f := newFake("INPUT")
	f.chains["INPUT"] = [][]string{ruleA.Spec()}
	f.deleteErr = notExistErr{} // delete "succeeds" as already gone, rule stays
	err := Remove(f, ruleA)
	if err == nil || !strings.Contains(err.Error(), "read back") {
		t.Errorf("Remove = %v, want read-back error", err)
	}
}

func TestPresent(t *testing.T) {
	tests := []struct {
		name  string
		start [][]string
		want  bool
	}{
		{"absent", nil, false},
		{"first", [][]string{ruleA.Spec(), drop}, true},
		{"behind a DROP", [][]string{drop, ruleA.Spec()}, false},
		{"duplicated", [][]string{ruleA.Spec(), ruleA.Spec()}, false},
		{"after other config", [][]string{ruleB.Spec(), ruleA.Spec()}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake("INPUT")
			f.chains["INPUT"] = tc.start
			got, err := Present(f, ruleA)
			if err != nil || got != tc.want {
				t.Errorf("Present = %v, %v; want %v, nil", got, err, tc.want)
			}
		})
	}
	if _, err := Present(newFake(), ruleA); !errors.Is(err, ErrNoChain) {
		t.Errorf("Present on missing chain: err = %v, want ErrNoChain", err)
	}
}

func TestSplitRule(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{`-A INPUT -j ACCEPT`, []string{"-A", "INPUT", "-j", "ACCEPT"}, false},
		{`-A INPUT -m comment --comment "a b" -j ACCEPT`, []string{"-A", "INPUT", "-m", "comment", "--comment", "a b", "-j", "ACCEPT"}, false},
		{`-A X --comment "say \"hi\" \\o/"`, []string{"-A", "X", "--comment", `say "hi" \o/`}, false},
		{`-A X --comment ""`, []string{"-A", "X", "--comment", ""}, false},
		{`-A X  -j   DROP `, []string{"-A", "X", "-j", "DROP"}, false},
		{`-A X --comment "open`, nil, true},
	}
	for _, tc := range tests {
		got, err := splitRule(tc.in)
		if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
			t.Errorf("splitRule(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}
