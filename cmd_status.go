package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ipfailover/ipfailover/agent/status"
)

// cmdStatus prints the local agent's status, read from its /status endpoint
// (OPENSHIFT_HA_METRICS_ADDRESS), as a table. It exits 0 when the agent is
// healthy and ready, 1 when it is not or cannot be reached.
func cmdStatus(args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("address", "", "agent's metrics address (default: from OPENSHIFT_HA_METRICS_ADDRESS)")
	asJSON := fs.Bool("json", false, "print the raw /status JSON")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return exitInvalid
	}
	if *addr == "" {
		cfg, code := loadConfig(stderr, log)
		if code != exitOK {
			return code
		}
		if cfg.MetricsAddress == "" {
			fmt.Fprintln(stderr, "ipfailover status: OPENSHIFT_HA_METRICS_ADDRESS is empty, so the agent serves no status; pass --address HOST:PORT")
			return exitInvalid
		}
		*addr = cfg.MetricsAddress
	}
	url, err := status.URL(*addr)
	if err != nil {
		fmt.Fprintln(stderr, "ipfailover status:", err)
		return exitInvalid
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	st, body, err := status.Fetch(ctx, url)
	if err != nil {
		return reportError(stderr, err)
	}
	if *asJSON {
		_, _ = stdout.Write(body)
	} else {
		status.Print(stdout, st, time.Now())
	}
	if !st.Healthy || !st.Ready {
		return exitFailure
	}
	return exitOK
}
