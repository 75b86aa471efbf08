package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/ipfailover/ipfailover/agent"
	"github.com/ipfailover/ipfailover/internal/cli"
)

var cleanupCommand = command{Command: cli.Command{
	Name:    "cleanup",
	Summary: "remove this configuration's multicast rule and VIPs from the node",
	Long: `For a node cleanup Job or a preStop hook after the agent's pods are gone.
Configured by the same environment as run; it is idempotent.`,
	Example: "OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100-102 OPENSHIFT_HA_CONFIG_NAME=ipf ipfailover cleanup",
}}

// cmdCleanup removes what this configuration leaves on a node after its pods
// are gone: the multicast rule(s) and any of its VIPs still on the interface.
func cmdCleanup(c cli.Command, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := c.NewFlagSet()
	if code, done := c.Parse(fs, args, stdout, stderr); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ipfailover cleanup takes no arguments (got %q); it is configured by the same environment as run\n", fs.Args())
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
