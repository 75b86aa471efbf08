package e2e

import (
	"bytes"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/e2e/lab"
	"github.com/ipfailover/ipfailover/supervisor"
)

// TestRenderMatchesRun: `ipfailover render` without flags, run on the node
// (its network and mount namespaces) with the agent's environment, prints
// byte for byte the keepalived.conf that `ipfailover run` wrote there, for
// several environments at once (one node each, each alone in its elections:
// distinct VRIDs). One node has no OPENSHIFT_HA_NETWORK_INTERFACE (and, like
// every lab node, no default route): the agent picks eth0 by its connected
// subnet, says so, and serves.
func TestRenderMatchesRun(t *testing.T) {
	dir := secureDir(t)
	check := filepath.Join(dir, "check.sh")
	notify := filepath.Join(dir, "notify.sh")
	writeScript(t, check, "#!/bin/sh\nexit 0\n")
	writeScript(t, notify, "#!/bin/sh\nexit 0\n")
	port := strconv.Itoa(lab.DefaultServicePort)
	cases := []struct {
		name string
		vars map[string]string
		vips []netip.Addr
	}{
		{"ipv4-range", map[string]string{
			"OPENSHIFT_HA_VIRTUAL_IPS":       "192.0.2.200-203",
			"OPENSHIFT_HA_NETWORK_INTERFACE": lab.Interface,
		}, addrRange(200, 203)},
		{"ipv6-only", map[string]string{
			"OPENSHIFT_HA_VIRTUAL_IPS":       "2001:db8::210-212",
			"OPENSHIFT_HA_NETWORK_INTERFACE": lab.Interface,
			"OPENSHIFT_HA_VRRP_ID_OFFSET":    "20",
		}, addrs("2001:db8::210", "2001:db8::211", "2001:db8::212")},
		{"mixed", map[string]string{
			"OPENSHIFT_HA_VIRTUAL_IPS":       "192.0.2.220,2001:db8::220-221,192.0.2.221",
			"OPENSHIFT_HA_VIP_GROUPS":        "2",
			"OPENSHIFT_HA_NETWORK_INTERFACE": lab.Interface,
			"OPENSHIFT_HA_VRRP_ID_OFFSET":    "30",
		}, addrs("192.0.2.220", "192.0.2.221", "2001:db8::220", "2001:db8::221")},
		{"check-script-args", map[string]string{
			"OPENSHIFT_HA_VIRTUAL_IPS":       "192.0.2.230",
			"OPENSHIFT_HA_NETWORK_INTERFACE": lab.Interface,
			"OPENSHIFT_HA_VRRP_ID_OFFSET":    "40",
			"OPENSHIFT_HA_CHECK_SCRIPT":      check + " --port " + port + " -q",
			"OPENSHIFT_HA_CHECK_INTERVAL":    "1",
		}, addrs("192.0.2.230")},
		{"notify-script", map[string]string{
			"OPENSHIFT_HA_VIRTUAL_IPS":       "192.0.2.240",
			"OPENSHIFT_HA_NETWORK_INTERFACE": lab.Interface,
			"OPENSHIFT_HA_VRRP_ID_OFFSET":    "50",
			"OPENSHIFT_HA_NOTIFY_SCRIPT":     notify,
		}, addrs("192.0.2.240")},
		// No interface variable: the first group's VIP is in eth0's
		// connected subnet, and there is no default route to fall back on.
		{"no-interface-no-default-route", map[string]string{
			"OPENSHIFT_HA_VIRTUAL_IPS":    "192.0.2.250-251",
			"OPENSHIFT_HA_VRRP_ID_OFFSET": "60",
		}, addrs("192.0.2.250", "192.0.2.251")},
	}
	l := newLab(t, len(cases))
	bin := agentBinary(t)
	var all []netip.Addr
	for i, tc := range cases {
		n := l.Nodes[i]
		if out, err := n.Exec(t.Context(), "ip", "route", "show", "default"); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Fatalf("%s: want no default route, got %q, %v", n.Name, out, err)
		}
		vars := map[string]string{
			"OPENSHIFT_HA_CONFIG_NAME":   "render-" + tc.name,
			"OPENSHIFT_HA_MONITOR_PORT":  port,
			"OPENSHIFT_HA_REPLICA_COUNT": "2",
		}
		for k, v := range tc.vars {
			vars[k] = v
		}
		if err := n.Start(lab.Spec{Argv: []string{bin, "run"}, Env: envList(vars)}); err != nil {
			t.Fatal(err)
		}
		all = append(all, tc.vips...)
	}
	for i, tc := range cases {
		n := l.Nodes[i]
		t.Run(tc.name, func(t *testing.T) {
			// keepalived runs once the agent has installed its config.
			waitKeepalived(t, n, 0, 20*time.Second)
			written, err := n.ReadFile("/etc/keepalived/keepalived.conf")
			if err != nil {
				t.Fatal(err)
			}
			// The agent's supervisor prepends one marker line
			// (supervisor.ConfigMarker) to what it renders, so that it
			// never replaces a file it did not write; render prints the
			// rendered config without it. Compare after removing exactly
			// that line.
			first, rest, _ := bytes.Cut(written, []byte("\n"))
			if !bytes.HasPrefix(first, []byte(supervisor.ConfigMarker)) {
				t.Fatalf("written keepalived.conf starts with %q, want the marker %q", first, supervisor.ConfigMarker)
			}
			stdout, stderr := renderOnNode(t, n, bin)
			for _, v := range tc.vips {
				if !bytes.Contains(stdout, []byte(" "+v.String()+"/")) {
					t.Errorf("render output lacks VIP %s:\n%s", v, stdout)
				}
			}
			if !bytes.Equal(stdout, rest) {
				t.Errorf("render output differs from the keepalived.conf run wrote (marker line removed): %s\nrender stderr:\n%s",
					firstDiff(stdout, rest), stderr)
			}
			if _, ok := tc.vars["OPENSHIFT_HA_NETWORK_INTERFACE"]; !ok {
				const want = "its connected subnet 192.0.2.0/24 holds VIP 192.0.2.250"
				for who, text := range map[string]string{"run": strings.Join(compatRunLog(n), "\n"), "render": string(stderr)} {
					if !hasChoice(text, lab.Interface, want) {
						t.Errorf("%s: want an \"interface chosen\" log line with interface=%s why=%q; log:\n%s", who, lab.Interface, want, text)
					}
				}
			}
		})
	}
	// Every agent serves: each node is alone in its elections.
	h := waitStable(t, l, all, 20*time.Second, time.Second, exactlyOne)
	for i, tc := range cases {
		if got := h.HeldBy(l.Nodes[i].Name); !sameAddrSet(got, tc.vips) {
			t.Errorf("%s (%s) holds %v, want %v", l.Nodes[i].Name, tc.name, got, tc.vips)
		}
	}
}

// renderOnNode runs `ipfailover render` without flags inside the node's
// network and mount namespaces (like `oc exec POD -- ipfailover render`)
// with exactly the environment of the node's agent.
func renderOnNode(t *testing.T, n *lab.Node, bin string) (stdout, stderr []byte) {
	t.Helper()
	environ, err := compatEnviron(n)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), "nsenter", "-t", strconv.Itoa(n.PID1()), "-m", "-n", "--", bin, "render")
	cmd.Env = strings.Split(environ, "\n")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: ipfailover render: %v\n%s", n.Name, err, e.Bytes())
	}
	return o.Bytes(), e.Bytes()
}

// hasChoice reports whether a log holds the agent's "interface chosen" line
// for ifname with the reason why.
func hasChoice(log, ifname, why string) bool {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `msg="interface chosen"`) && strings.Contains(line, "interface="+ifname+" ") &&
			strings.Contains(line, fmt.Sprintf("why=%q", why)) {
			return true
		}
	}
	return false
}

// firstDiff describes where two texts first differ, by line.
func firstDiff(a, b []byte) string {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < max(len(la), len(lb)); i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y || i >= len(la) || i >= len(lb) {
			return fmt.Sprintf("line %d: render %q, written %q (render %d lines, written %d)", i+1, x, y, len(la), len(lb))
		}
	}
	return "equal"
}
