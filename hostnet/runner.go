// Package hostnet owns the agent's view of the host network: which interface
// carries the default route, the primary address of an interface, waiting
// (bounded and logged) for an interface to become usable, and VIP hygiene,
// i.e. listing the addresses on an interface and removing configured VIPs
// that a previous run left behind.
//
// Commands (ip) go through an injected Runner and /proc is read below an
// injected root, so everything but the stdlib interface lookups is testable
// without root.
package hostnet

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// DefaultTimeout bounds a command run by ExecRunner when the caller's context
// has no deadline, so a wedged ip or iptables cannot hang the agent.
const DefaultTimeout = 10 * time.Second

// Runner runs an external command and returns its standard output.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// ExecRunner runs commands with os/exec. The zero value is ready to use.
type ExecRunner struct {
	// Timeout applies when ctx has no deadline; zero means DefaultTimeout.
	Timeout time.Duration
}

// Run runs name with args. On failure the error names the command line and
// carries the command's trimmed standard error, because that is where ip and
// iptables explain what went wrong.
func (r ExecRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		timeout := r.Timeout
		if timeout <= 0 {
			timeout = DefaultTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Do not wait forever for pipes held open by grandchildren after a kill.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		line := commandLine(name, args)
		msg := strings.TrimSpace(stderr.String())
		if ctxErr := ctx.Err(); ctxErr != nil {
			return stdout.Bytes(), fmt.Errorf("%s: %w (%w): %s", line, err, ctxErr, msg)
		}
		if msg == "" {
			return stdout.Bytes(), fmt.Errorf("%s: %w", line, err)
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w: %s", line, err, msg)
	}
	return stdout.Bytes(), nil
}

// NetnsRunner runs every command inside the named network namespace via
// "ip netns exec NAME". Tests use it to point production code at a namespace
// they created, without touching the host's network.
type NetnsRunner struct {
	// Name is the namespace name as given to "ip netns add".
	Name string
	// Runner runs the resulting ip command; nil means ExecRunner{}.
	Runner Runner
}

// Run runs name with args inside the namespace.
func (n NetnsRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	inner := n.Runner
	if inner == nil {
		inner = ExecRunner{}
	}
	full := append([]string{"netns", "exec", n.Name, name}, args...)
	return inner.Run(ctx, "ip", full...)
}

func commandLine(name string, args []string) string {
	return strings.TrimSpace(name + " " + strings.Join(args, " "))
}
