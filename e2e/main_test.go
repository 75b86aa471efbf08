// Package e2e holds the end-to-end tests of ipfailover: real agents as PID 1
// of their own namespaces, running real keepalived on a throw-away L2
// segment (see package lab), probed from a client namespace. They need root,
// ip, unshare, keepalived and iptables, and skip with the reason otherwise.
//
// The agent binary is built from the module root once per test run, or taken
// from IPFAILOVER_E2E_BIN. IPFAILOVER_E2E_LONG=1 runs the long variants
// (60 s zombie soak instead of 15 s). Node logs are printed when a test
// fails, or always with IPFAILOVER_E2E_LOGS=1.
package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/e2e/lab"
)

// labs lets the interrupt handler remove the namespaces of running tests.
var labs lab.Registry

func TestMain(m *testing.M) {
	lab.MaybeRunHelper()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigc
		fmt.Fprintf(os.Stderr, "e2e: %v: removing labs\n", s)
		_ = labs.CloseAll()
		os.Exit(130)
	}()
	code := m.Run()
	if agent.dir != "" {
		os.RemoveAll(agent.dir)
	}
	os.Exit(code)
}

// agent is the ipfailover binary under test, built at most once.
var agent struct {
	once sync.Once
	path string
	dir  string
	err  error
}

// agentBinary returns the agent's path, building it on first use.
func agentBinary(t *testing.T) string {
	t.Helper()
	agent.once.Do(func() {
		if p := os.Getenv("IPFAILOVER_E2E_BIN"); p != "" {
			agent.path = p
			return
		}
		agent.dir, agent.err = os.MkdirTemp("", "ipfailover-e2e-bin-")
		if agent.err != nil {
			return
		}
		agent.path = filepath.Join(agent.dir, "ipfailover")
		cmd := exec.Command("go", "build", "-o", agent.path, ".")
		cmd.Dir = ".." // the module root holds package main
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			agent.err = fmt.Errorf("go build of the agent failed: %w\n%s", err, out)
		}
	})
	if agent.err != nil {
		t.Fatal(agent.err)
	}
	return agent.path
}

// newLab skips unless labs can run, builds one with n nodes and registers
// its cleanup, which prints the tail of every node's log if the test failed.
func newLab(t *testing.T, n int) *lab.Lab {
	t.Helper()
	if err := lab.Preflight(); err != nil {
		t.Skipf("e2e needs a privileged Linux host: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := lab.New(ctx, lab.Options{
		Nodes:  n,
		Dir:    t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	labs.Add(l)
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("IPFAILOVER_E2E_LOGS") == "1" {
			for _, n := range l.Nodes {
				t.Logf("--- last lines of %s (%s):\n%s", n.Name, n.LogPath(), n.LogTail(60))
			}
		}
		if err := l.Close(); err != nil {
			t.Errorf("lab cleanup: %v", err)
		}
		labs.Remove(l)
	})
	return l
}

// envList renders a map as KEY=VALUE pairs.
func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}
