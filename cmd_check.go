package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ipfailover/ipfailover/agent/health"
)

// cmdCheck is the default health check the agent runs (health.TCP): a TCP
// connect to this node's address on the monitor port.
func cmdCheck(args []string, stderr io.Writer) int {
	if len(args) < 2 || args[0] != "tcp" {
		fmt.Fprintln(stderr, "usage: ipfailover check tcp ADDR:PORT [--timeout D]")
		return exitInvalid
	}
	target := args[1]
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", time.Second, "give up after this long")
	if err := fs.Parse(args[2:]); err != nil {
		return exitInvalid
	}
	if err := health.TCP(target, *timeout); err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailure
	}
	return exitOK
}
