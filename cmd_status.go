package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/ipfailover/ipfailover/agent/status"
	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/internal/cli"
)

var statusCommand = command{Command: cli.Command{
	Name:    "status",
	Summary: "print an agent's state from its status endpoint",
	Long: `Reads /status from the agent at --address (any machine that can reach it), or
from this node's agent at OPENSHIFT_HA_METRICS_ADDRESS (default :63000 plus
OPENSHIFT_HA_VRRP_ID_OFFSET). Exit codes: 0 healthy and ready, 1 not
reachable, 3 reachable but degraded (an instance in FAULT, not ready, or a
failing check; with --segment: a conflict on the segment).`,
	Example: `ipfailover status
ipfailover status --address 192.0.2.11:63010 --json
ipfailover status --segment`,
}}

// cmdStatus prints the agent's status as a table or JSON, with exit codes
// for scripts: 0 healthy, 1 unreachable, 3 degraded.
func cmdStatus(c cli.Command, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := c.NewFlagSet()
	addr := fs.String("address", "", "the agent's status address HOST:PORT (default: this node's agent)")
	asJSON := fs.Bool("json", false, "print the /status document (or the segment view) as JSON")
	segment := fs.Bool("segment", false, "print every VRID heard on the segment (this and other configurations) with its master, priority, interval and VIPs, and the conflicts")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if code, done := c.Parse(fs, args, stdout, stderr); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ipfailover status takes no arguments (got %q)\n", fs.Args())
		return exitInvalid
	}
	if *addr == "" {
		a, err := localStatusAddress()
		if err != nil {
			fmt.Fprintln(stderr, "ipfailover status:", err)
			return exitInvalid
		}
		*addr = a
	}
	url, err := status.URL(*addr)
	if err != nil {
		fmt.Fprintln(stderr, "ipfailover status:", err)
		return exitInvalid
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if *segment {
		seg, _, err := status.FetchSegment(ctx, url)
		if err != nil {
			fmt.Fprintln(stderr, "ipfailover status:", err)
			return exitFailure
		}
		if err := status.PrintSegment(stdout, seg, *asJSON); err != nil {
			fmt.Fprintln(stderr, "ipfailover status:", err)
			return exitFailure
		}
		if len(seg.Conflicts) > 0 {
			return exitDegraded
		}
		return exitOK
	}
	st, body, err := status.Fetch(ctx, url)
	if err != nil {
		fmt.Fprintln(stderr, "ipfailover status:", err)
		return exitFailure
	}
	if *asJSON {
		_, _ = stdout.Write(body)
	} else {
		status.Print(stdout, st, time.Now())
	}
	if status.Degraded(st) {
		return exitDegraded
	}
	return exitOK
}

// localStatusAddress is this node's agent's status address, from the two
// variables that decide it, so that status works without the rest of the
// agent's environment.
func localStatusAddress() (string, error) {
	if a, set := os.LookupEnv("OPENSHIFT_HA_METRICS_ADDRESS"); set {
		if a == "" {
			return "", fmt.Errorf("OPENSHIFT_HA_METRICS_ADDRESS is empty, so the agent serves no status; pass --address HOST:PORT")
		}
		return a, nil
	}
	offset := 10
	if v := os.Getenv("OPENSHIFT_HA_VRRP_ID_OFFSET"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n >= env.MaxVRID {
			return "", fmt.Errorf("OPENSHIFT_HA_VRRP_ID_OFFSET=%q: must be a whole number from 0 to %d; or pass --address HOST:PORT", v, env.MaxVRID-1)
		}
		offset = n
	}
	return fmt.Sprintf("127.0.0.1:%d", env.MetricsPortBase+offset), nil
}
