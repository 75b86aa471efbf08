package main

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ipfailover/ipfailover/agent/health"
	"github.com/ipfailover/ipfailover/internal/cli"
)

var checkCommand = command{Command: cli.Command{
	Name:    "check",
	Args:    "tcp ADDR:PORT",
	Summary: "the default health check: connect to ADDR:PORT over TCP, exit 0 when it accepts",
	Example: "ipfailover check tcp 192.0.2.10:80 --timeout 1s",
}}

// cmdCheck is the default health check the agent runs (health.TCP): a TCP
// connect to this node's address on the monitor port.
func cmdCheck(c cli.Command, args []string, stdout, stderr io.Writer, _ *slog.Logger) int {
	fs := c.NewFlagSet()
	timeout := fs.Duration("timeout", time.Second, "give up after this long")
	if code, done := c.Parse(fs, args, stdout, stderr); done {
		return code
	}
	if fs.NArg() != 2 || fs.Arg(0) != "tcp" {
		fmt.Fprintln(stderr, "usage: ipfailover check tcp ADDR:PORT [--timeout D]")
		return exitInvalid
	}
	if err := health.TCP(fs.Arg(1), *timeout); err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailure
	}
	return exitOK
}
