package e2e

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/e2e/lab"
	"github.com/ipfailover/ipfailover/env"
)

// rolloutCase is one environment a Deployment of the original image could
// run with. Its fixture testdata/original/NAME.conf is the keepalived.conf
// the original image's scripts render for that environment on node n1
// (192.0.2.11, eth0, OPENSHIFT_HA_REPLICA_COUNT=2, monitor port 0): the
// layout of generate_failover_config (config-generators.sh), the original's
// priorities for ipslot 11 (master 255-11=244, the flip-flop master 11+1=12,
// slaves 11+RANDOM%32 with fixed draws), `state MASTER` on its master
// instances, and `script "true"`, the original's check for port 0. The VRIDs
// and VIPs are checked against the model of the original (checkFixture).
type rolloutCase struct {
	name string
	env  map[string]string // the OPENSHIFT_HA_* variables old and new pods share
}

var rolloutCases = []rolloutCase{
	{"ipv4-range", map[string]string{
		"OPENSHIFT_HA_CONFIG_NAME": "OpenShift-IPFailover",
		"OPENSHIFT_HA_VIRTUAL_IPS": "192.0.2.200-203",
	}},
	// IPv6 first: VRID 11 is an IPv6 (VRRPv3) instance, the IPv4 VIPs
	// follow with VRIDs 12 and 13.
	{"ipv6-first", map[string]string{
		"OPENSHIFT_HA_CONFIG_NAME": "ipfailover",
		"OPENSHIFT_HA_VIRTUAL_IPS": "2001:db8::200,192.0.2.200-201",
	}},
	// Two groups of three: the first mixes families (IPv4 first), so the
	// original's keepalived serves only its IPv4 VIPs; this agent serves
	// 2001:db8::200 too, in a second instance with the same VRID.
	{"mixed-groups", map[string]string{
		"OPENSHIFT_HA_CONFIG_NAME":    "ha-mixed",
		"OPENSHIFT_HA_VIRTUAL_IPS":    "192.0.2.200-201,2001:db8::200-203",
		"OPENSHIFT_HA_VIP_GROUPS":     "2",
		"OPENSHIFT_HA_VRRP_ID_OFFSET": "20",
	}},
	// The exclusion form the original honours: white-space separated.
	// Offset 10 makes the VRIDs 11, (12 and 13 skipped) 14, 15, 16.
	{"excluded-ids", map[string]string{
		"OPENSHIFT_HA_CONFIG_NAME":    "ipfailover",
		"OPENSHIFT_HA_VIRTUAL_IPS":    "192.0.2.200-203",
		"OPENSHIFT_HA_VRRP_ID_OFFSET": "10",
		"HA_EXCLUDED_VRRP_IDS":        "12 13",
	}},
}

// TestRolloutFromOriginal runs a rolling update from the original image: n1
// runs plain keepalived with the original's rendered keepalived.conf (the
// old pod), n2 runs the agent with the same environment (the new pod). Both
// must take part in the same elections: every VIP on exactly one node while
// both run, no advert dropped as mismatched, and when the old pod goes, every
// VIP moves to the new one.
func TestRolloutFromOriginal(t *testing.T) {
	for _, tc := range rolloutCases {
		t.Run(tc.name, func(t *testing.T) { testRollout(t, tc) })
	}
}

func testRollout(t *testing.T, tc rolloutCase) {
	fixture, err := filepath.Abs(filepath.Join("testdata", "original", tc.name+".conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"OPENSHIFT_HA_REPLICA_COUNT": "2", "OPENSHIFT_HA_MONITOR_PORT": "0"}
	for k, v := range tc.env {
		vars[k] = v
	}
	// Unset, the offset is 10 for the original image (settings.sh) and
	// for the agent alike; OriginalInstances takes it parsed.
	offset := 10
	if s := vars["OPENSHIFT_HA_VRRP_ID_OFFSET"]; s != "" {
		if offset, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	model := env.OriginalInstances(vars, offset)
	checkFixture(t, conf, vars["OPENSHIFT_HA_CONFIG_NAME"], model)

	// What the old pod serves (the first family of each instance) and
	// what the environment lists; the new pod serves every listed VIP.
	var served, listed []netip.Addr
	for _, in := range model {
		served = append(served, in.Served...)
		listed = append(listed, in.Listed...)
	}

	l := newLab(t, 2)
	old, neu := l.Nodes[0], l.Nodes[1]
	checkConfigTest(t, old, fixture)
	err = old.Start(lab.Spec{Argv: []string{"/usr/sbin/keepalived", "--dont-fork", "--log-console", "-D",
		"-f", fixture, "-p", "/run/k.pid", "-r", "/run/v.pid", "-c", "/run/c.pid"}})
	if err != nil {
		t.Fatal(err)
	}
	// The old pod alone: it serves exactly the first family of each of
	// its instances, as the model of the original says.
	waitStable(t, l, listed, 20*time.Second, time.Second, func(h lab.Holding) error {
		if got := h.HeldBy(old.Name); !sameAddrSet(got, served) {
			return fmt.Errorf("old pod (original config) holds %v, want exactly %v", got, served)
		}
		return nil
	})

	agentVars := map[string]string{"OPENSHIFT_HA_NETWORK_INTERFACE": lab.Interface}
	for k, v := range vars {
		agentVars[k] = v
	}
	t0 := time.Now()
	if err := neu.Start(lab.Spec{Argv: []string{agentBinary(t), "run"}, Env: envList(agentVars)}); err != nil {
		t.Fatal(err)
	}
	// From the new pod's start on, no VIP may ever be on both nodes. The
	// new keepalived would make itself master of any election it is alone
	// in after one master-down interval; hold exactly-one a further 5 s
	// (five advert intervals) beyond that.
	const hold = 5 * time.Second
	var kaStart, convergedAt time.Time
	deadline := t0.Add(30 * time.Second)
	samples := 0
	for {
		if !neu.Running() {
			t.Fatalf("the agent on %s exited: %s", neu.Name, neu.LogTail(20))
		}
		if kaStart.IsZero() {
			if _, err := neu.Keepalived(); err == nil {
				kaStart = time.Now()
			}
		}
		h, err := l.Holders(listed)
		if err != nil {
			t.Fatal(err)
		}
		samples++
		if err := h.AtMostOne(); err != nil {
			t.Fatalf("%v after the new pod started, with the old pod running: %v (placement %v)",
				time.Since(t0).Round(time.Millisecond), err, h)
		}
		exact := h.ExactlyOne()
		switch {
		case !convergedAt.IsZero() && exact != nil:
			t.Fatalf("%v after convergence: %v (placement %v)", time.Since(convergedAt).Round(time.Millisecond), exact, h)
		case convergedAt.IsZero() && exact == nil && !kaStart.IsZero() && time.Since(kaStart) > masterDown+time.Second:
			convergedAt = time.Now()
			t.Logf("converged %v after the new pod started: %v", convergedAt.Sub(t0).Round(time.Millisecond), h)
		}
		if !convergedAt.IsZero() && time.Since(convergedAt) >= hold {
			t.Logf("%d samples, never a VIP on both nodes; placement %v", samples, h)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no convergence within %v of the new pod's start (keepalived up at %v): %v (placement %v)",
				deadline.Sub(t0), kaStart, exact, h)
		}
		time.Sleep(50 * time.Millisecond) // sampling period, not a wait for a condition
	}
	// The agent itself must not think the old pods are in other elections.
	if lines := compatLinesWith(neu, "VRRP groups differ from the original"); len(lines) > 0 {
		t.Errorf("the agent warns its VRRP groups differ from the original's for this environment:\n%s", strings.Join(lines, "\n"))
	}

	// The old pod goes away (rollout step done): everything moves.
	t1 := time.Now()
	if code, err := old.Stop(10 * time.Second); err != nil || code != 0 {
		t.Fatalf("stop of the old keepalived on %s: exit %d, %v", old.Name, code, err)
	}
	h := waitStable(t, l, listed, masterDown+5*time.Second, time.Second, func(h lab.Holding) error {
		if got := h.HeldBy(neu.Name); !sameAddrSet(got, listed) {
			return fmt.Errorf("new pod holds %v, want every VIP %v", got, listed)
		}
		return h.ExactlyOne()
	})
	t.Logf("old pod stopped: every VIP on %s after %v: %v", neu.Name, time.Since(t1).Round(time.Millisecond), h)

	for _, n := range l.Nodes {
		if bad := compatMismatches(n); len(bad) > 0 {
			t.Errorf("%s dropped adverts as mismatched (old and new pods disagree on the election):\n%s", n.Name, strings.Join(bad, "\n"))
		}
	}
}

// checkFixture asserts that the fixture is what the original renders for
// the environment, as far as elections go: per instance (in order) the
// name, the VRID and the listed VIPs of the model of the original's scripts
// (env.OriginalInstances, itself checked against the original's measured
// renders), and the configuration name as auth_pass. A fixture edited out
// of step with the model fails here, before any node starts.
func checkFixture(t *testing.T, conf []byte, name string, model []env.OriginalInstance) {
	t.Helper()
	ins, err := lab.ParseInstances(conf)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	if len(ins) != len(model) {
		t.Fatalf("fixture has %d vrrp_instances, the original renders %d: %+v", len(ins), len(model), model)
	}
	scrubbed := strings.ReplaceAll(name, "-", "_")
	for i, in := range ins {
		m := model[i]
		if want := fmt.Sprintf("%s_VIP_%d", scrubbed, i+1); in.Name != want {
			t.Errorf("fixture instance %d is named %s, the original names it %s", i+1, in.Name, want)
		}
		if in.VRID != m.VRID || !slices.Equal(in.VIPs, m.Listed) {
			t.Errorf("fixture instance %s: VRID %d VIPs %v; the original renders VRID %d VIPs %v",
				in.Name, in.VRID, in.VIPs, m.VRID, m.Listed)
		}
	}
	var passes int
	for _, line := range strings.Split(string(conf), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "auth_pass" {
			passes++
			if f[1] != name {
				t.Errorf("fixture has auth_pass %s, the original writes the configuration name %s", f[1], name)
			}
		}
	}
	if passes != len(model) {
		t.Errorf("fixture has %d auth_pass lines, want one per instance (%d)", passes, len(model))
	}
}

// originalWarnings are the problems keepalived 2.2 reports for every config
// the original image renders; keepalived runs such a config anyway, and
// `keepalived -t` then exits 6 (KEEPALIVED_EXIT_CONFIG_TEST: problems
// found, none fatal).
var originalWarnings = []string{
	"Truncating auth_pass to 8 characters",                       // auth_pass is the whole configuration name
	"scripts are being executed but script_security not enabled", // no enable_script_security in global_defs
	"preempt delay will not work with initial state MASTER",      // state MASTER with preempt_delay
	"VRRP version 3 does not support authentication",             // authentication block in an IPv6 instance
	"address family must match VRRP instance",                    // the other family's VIPs of a mixed instance
}

// checkConfigTest runs `keepalived -t` on the fixture in the node's network
// namespace (where eth0 exists) and fails unless keepalived accepts it with
// no problem other than those the original's configs always had.
func checkConfigTest(t *testing.T, n *lab.Node, conf string) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "ip", "netns", "exec", n.NS, "keepalived", "-t", "-f", conf).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && (!errors.As(err, &ee) || ee.ExitCode() != 6) {
		t.Fatalf("keepalived -t -f %s: %v, want exit 0 or 6 (warnings only):\n%s", conf, err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" && !slices.ContainsFunc(originalWarnings, func(w string) bool { return strings.Contains(line, w) }) {
			t.Errorf("keepalived -t -f %s reports a problem the original's configs do not have: %s", conf, line)
		}
	}
}
