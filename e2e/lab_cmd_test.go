package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/e2e/lab"
)

// TestLabCommand runs the live lab (`make lab`) non-interactively: it must
// build its namespaces, serve every VIP from exactly one node that answers
// the client, say so, exit 0 and leave no namespace of its run behind.
func TestLabCommand(t *testing.T) {
	if err := lab.Preflight(); err != nil {
		t.Skipf("the lab needs a privileged Linux host: %v", err)
	}
	agentPath := agentBinary(t)
	prog := filepath.Join(t.TempDir(), "lab")
	build := exec.Command("go", "build", "-o", prog, "./e2e/cmd/lab")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./e2e/cmd/lab: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, "--agent", agentPath, "--once", "--duration", "60s")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out // stdin: /dev/null, not a terminal
	err := cmd.Run()
	t.Logf("lab output:\n%s", out.String())
	if err != nil {
		t.Errorf("lab --once: %v", err)
	}
	m := regexp.MustCompile(`lab (ipf-[0-9a-f]{4}-) up`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatal("the output does not name the lab it built")
	}
	prefix := m[1]
	if !strings.Contains(out.String(), "every VIP is served: 6 of 6") {
		t.Error("the lab did not report every VIP served")
	}
	if !strings.Contains(out.String(), "lab removed") {
		t.Error("the lab did not report its removal")
	}
	list, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, list)
	}
	if strings.Contains(string(list), prefix) {
		t.Errorf("namespaces of the lab run left behind:\n%s", list)
		_, _ = lab.Down(context.Background(), prefix)
	}
	if _, err := os.Stat(filepath.Join("/run/ipfailover-lab", strings.TrimSuffix(strings.TrimPrefix(prefix, lab.Prefix), "-"))); err == nil {
		t.Error("the lab's record in /run/ipfailover-lab was left behind")
	}
}
