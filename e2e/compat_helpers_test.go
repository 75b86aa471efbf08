package e2e

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/e2e/lab"
)

// Helpers of the compatibility tests (rollout_test.go, qe_walk_test.go,
// render_run_test.go).

// compatRunLog returns the lines the node's current run wrote: the node log
// collects every run, and the lab starts each run with a "=== lab: ... start"
// line. Like `oc logs` of a pod, which shows that pod's output only.
func compatRunLog(n *lab.Node) []string {
	b, err := os.ReadFile(n.LogPath())
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	start := 0
	for i, line := range lines {
		if strings.HasPrefix(line, "=== lab: ") && strings.Contains(line, " start ") {
			start = i + 1
		}
	}
	return lines[start:]
}

// compatLinesWith returns the lines of the node's current run that contain
// substr (what `oc logs POD | grep substr` shows).
func compatLinesWith(n *lab.Node, substr string) []string {
	var out []string
	for _, line := range compatRunLog(n) {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

// compatEnviron returns the environment of the node's PID 1 as KEY=VALUE
// lines: what `oc exec POD -- /usr/bin/env` prints, since an exec into a
// container gets the container's environment.
func compatEnviron(n *lab.Node) (string, error) {
	pid := n.PID1()
	if pid == 0 {
		return "", fmt.Errorf("%s never started", n.Name)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return "", fmt.Errorf("environment of %s: %w", n.Name, err)
	}
	return string(bytes.ReplaceAll(bytes.TrimRight(b, "\x00"), []byte{0}, []byte{'\n'})), nil
}

// compatLogHas reports whether the node's current run logged substr.
func compatLogHas(n *lab.Node, substr string) bool {
	return len(compatLinesWith(n, substr)) > 0
}

// vrrpMismatchMarkers are what keepalived logs when it drops an advert of
// its own VRID because the sender is configured differently (password, VIP
// list, interval, version): the signs of two elections that should be one.
var vrrpMismatchMarkers = []string{
	"invalid passwd",
	"auth, expecting",
	"invalid ip number count",
	"not present in MASTER advert",
	"interval mismatch",
	"bogus VRRP packet",
	"wrong VRRP version",
}

// compatMismatches returns the node's log lines (all runs) that show a VRRP
// configuration mismatch on the segment.
func compatMismatches(n *lab.Node) []string {
	b, err := os.ReadFile(n.LogPath())
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		for _, m := range vrrpMismatchMarkers {
			if strings.Contains(line, m) {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

// sameAddrSet compares address lists as sets.
func sameAddrSet(a, b []netip.Addr) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.SortFunc(x, netip.Addr.Compare)
	slices.SortFunc(y, netip.Addr.Compare)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

// compatStopAll stops the nodes in parallel (SIGTERM, as a pod deletion
// does) and fails the test if one does not exit cleanly.
func compatStopAll(t *testing.T, nodes ...*lab.Node) {
	t.Helper()
	var errs []<-chan error
	for _, n := range nodes {
		if n.Running() {
			errs = append(errs, stopAsync(n, 15*time.Second))
		}
	}
	for _, c := range errs {
		if err := <-c; err != nil {
			t.Fatalf("graceful stop: %v", err)
		}
	}
}
