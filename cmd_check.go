package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"time"
)

// cmdCheck is the default health check the agent runs: a TCP connect to this
// node's address on the monitor port. It lives in the binary so the image
// needs no shell (the original image ran bash's /dev/tcp).
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
	conn, err := net.DialTimeout("tcp", target, *timeout)
	if err != nil {
		fmt.Fprintln(stderr, "check tcp:", err)
		return exitFailure
	}
	conn.Close()
	return exitOK
}
