package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/ipfailover/ipfailover/agent"
)

// cmdCleanup removes what this configuration leaves on a node after its pods
// are gone: the multicast rule(s) and any of its VIPs still on the interface.
func cmdCleanup(args []string, stderr io.Writer, log *slog.Logger) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: ipfailover cleanup (configured by the same environment as run)")
		return exitInvalid
	}
	cfg, code := loadConfig(stderr, log)
	if code != exitOK {
		return code
	}
	if err := agent.Cleanup(context.Background(), cfg, agent.HostDeps(log, version)); err != nil {
		return reportError(stderr, err)
	}
	return exitOK
}
