package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
)

// Helpers of the hardening scenarios (e2e/hardening_test.go): raw
// connections inside a node's network namespace, the node agent's open
// file descriptors, and commands run in the node's full context.

// DialTCP connects to addr (host:port) with a socket created inside the
// node's network namespace, so 127.0.0.1 is the node's loopback. The
// connection stays usable from any goroutine.
func (n *Node) DialTCP(ctx context.Context, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNetns(n.NS, func() error {
		var d net.Dialer
		var err error
		// A literal address is dialled on this goroutine, so the
		// socket is created inside the namespace.
		c, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s in %s: %w", addr, n.Name, err)
	}
	return c, nil
}

// OpenFDs counts the open file descriptors of a host PID.
func OpenFDs(pid int) (int, error) {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0, fmt.Errorf("open fds of PID %d: %w", pid, err)
	}
	return len(ents), nil
}

// Enter returns a command that runs argv inside the node's current mount,
// network and PID namespaces (those of its running PID 1), so it sees the
// node's private /run and /proc like the node's own processes do. env is
// the command's whole environment.
func (n *Node) Enter(ctx context.Context, env []string, argv ...string) (*exec.Cmd, error) {
	if !n.Running() {
		return nil, fmt.Errorf("enter %s: node is not running", n.Name)
	}
	args := append([]string{"-t", strconv.Itoa(n.PID1()), "-m", "-n", "-p", "--"}, argv...)
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	cmd.Env = env
	return cmd, nil
}
