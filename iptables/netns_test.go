package iptables

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// childEnv marks the copy of the test binary that runs inside the private
// network namespace. Its value is the parent's network namespace identity, so
// the child can refuse to run if it somehow ended up in the host namespace.
const childEnv = "IPFAILOVER_IPTABLES_TEST_PARENT_NETNS"

// TestNetfilterInNamespace exercises the real iptables and ip6tables binaries.
// The host's netfilter tables are never touched: the parent creates a fresh
// network namespace and re-executes this test binary inside it with
// "ip netns exec", and only that child talks to netfilter.
func TestNetfilterInNamespace(t *testing.T) {
	if parent := os.Getenv(childEnv); parent != "" {
		netfilterChild(t, parent)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create a network namespace")
	}
	for _, bin := range []string{"ip", "iptables", "ip6tables"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("skipping: %s not found in PATH: %v", bin, err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hostNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}

	name := "ipf-ipt-" + randomHex(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot create network namespace %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("delete network namespace %s: %v: %s", name, err, out)
		}
	})

	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", name, self,
		"-test.run=^TestNetfilterInNamespace$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+hostNS)
	out, err := cmd.CombinedOutput()
	t.Logf("child in namespace %s:\n%s", name, out)
	if err != nil {
		t.Fatalf("child test failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestNetfilterInNamespace") {
		t.Fatal("child test did not report PASS")
	}
}

func netfilterChild(t *testing.T, parentNS string) {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if self == parentNS {
		t.Fatalf("refusing to touch netfilter: still in the parent's network namespace %s", self)
	}
	ipt4, err := New(false)
	if err != nil {
		t.Fatalf("New(false): %v", err)
	}
	ipt6, err := New(true)
	if err != nil {
		t.Fatalf("New(true): %v", err)
	}

	tests := []struct {
		name  string
		table Table
		rule  Rule
		other Rule
		want  string
	}{
		{"ipv4", ipt4, ruleA, ruleB, lineA},
		{"ipv6", ipt6, ruleA6, Rule{Chain: "INPUT", IPv6: true, Tag: TagFor("b")}, lineA6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl, r := tc.table, tc.rule
			// A rule of someone else's that must stay, behind ours.
			foreign := []string{"-p", "tcp", "--dport", "2222", "-j", "DROP"}
			if err := tbl.Insert("filter", "INPUT", 1, foreign...); err != nil {
				t.Fatalf("insert foreign rule: %v", err)
			}
			// A stray copy of ours behind it, as an older run might have left.
			if err := tbl.Insert("filter", "INPUT", 2, r.Spec()...); err != nil {
				t.Fatalf("insert stray rule: %v", err)
			}
			for i := range 2 {
				if err := Ensure(tbl, r); err != nil {
					t.Fatalf("Ensure #%d: %v", i+1, err)
				}
			}
			got := rulesOf(t, tbl)
			want := []string{tc.want, "-A INPUT -p tcp -m tcp --dport 2222 -j DROP"}
			if !slices.Equal(got, want) {
				t.Fatalf("INPUT after Ensure x2:\n got %q\nwant %q", got, want)
			}
			if ok, err := Present(tbl, r); !ok || err != nil {
				t.Errorf("Present = %v, %v; want true, nil", ok, err)
			}

			// A second configuration goes in front; both stay satisfied.
			if err := Ensure(tbl, tc.other); err != nil {
				t.Fatalf("Ensure other: %v", err)
			}
			for _, rr := range []Rule{r, tc.other} {
				if ok, err := Present(tbl, rr); !ok || err != nil {
					t.Errorf("Present(%q) with two configurations = %v, %v; want true, nil", rr.Tag, ok, err)
				}
			}
			if err := Ensure(tbl, r); err != nil {
				t.Fatalf("Ensure after other: %v", err)
			}
			if n := len(rulesOf(t, tbl)); n != 3 {
				t.Errorf("INPUT has %d rules, want 3: %q", n, rulesOf(t, tbl))
			}

			missing := r
			missing.Chain = "IPF-NO-SUCH"
			if err := Ensure(tbl, missing); !errors.Is(err, ErrNoChain) {
				t.Errorf("Ensure on missing chain: %v, want ErrNoChain", err)
			} else if !strings.Contains(err.Error(), "IPF-NO-SUCH") {
				t.Errorf("ErrNoChain error %q does not name the chain", err)
			}
			if err := Remove(tbl, missing); err != nil {
				t.Errorf("Remove on missing chain: %v", err)
			}

			for i := range 2 {
				if err := Remove(tbl, r); err != nil {
					t.Fatalf("Remove #%d: %v", i+1, err)
				}
			}
			if ok, err := Present(tbl, r); ok || err != nil {
				t.Errorf("Present after Remove = %v, %v; want false, nil", ok, err)
			}
			if ok, _ := Present(tbl, tc.other); !ok {
				t.Error("Remove took the other configuration's rule too")
			}
		})
	}
}

// rulesOf lists INPUT without its policy line.
func rulesOf(t *testing.T, tbl Table) []string {
	t.Helper()
	lines, err := tbl.List("filter", "INPUT")
	if err != nil {
		t.Fatalf("list INPUT: %v", err)
	}
	return slices.DeleteFunc(lines, func(l string) bool { return !strings.HasPrefix(l, "-A ") })
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
