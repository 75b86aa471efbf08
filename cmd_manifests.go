package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"

	"github.com/spf13/pflag"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/internal/cli"
	"github.com/ipfailover/ipfailover/manifests"
)

var manifestsCommand = command{Command: cli.Command{
	Name:    "manifests",
	Args:    "[NAME]",
	Summary: "print Kubernetes/OpenShift objects for a failover configuration (like oc adm ipfailover)",
}}

// cmdManifests is the `oc adm ipfailover` of this project: it prints the
// objects for one failover configuration. Every value goes through the
// agent's own validation; on any problem stdout stays empty and the exit
// code is 2.
func cmdManifests(_ cli.Command, args []string, stdout, stderr io.Writer, _ *slog.Logger) int {
	req := manifests.NewRequest()
	req.Image = manifests.ImageFor(version)
	req.ReadFile = os.ReadFile
	// Help goes to stdout, syntax errors to stderr.
	msgs := stderr
	if slices.Contains(args, "--help") || slices.Contains(args, "-h") {
		msgs = stdout
	}
	inv, err := manifests.ParseArgs(req, args, msgs)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		return exitOK
	case err != nil:
		return exitInvalid
	}
	out, warnings, notes, err := manifests.Run(inv)
	var invalid *env.InvalidError
	if errors.As(err, &invalid) {
		for _, p := range invalid.Problems {
			line := "invalid configuration: " + p.String()
			if f := manifests.FlagFor(p.Variable); f != "" {
				line += " (set by " + f + ")"
			}
			fmt.Fprintln(stderr, line)
		}
		return exitInvalid
	}
	if err != nil {
		return reportError(stderr, err)
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, "ipfailover manifests: warning:", w)
	}
	for _, n := range notes {
		fmt.Fprintln(stderr, "ipfailover manifests:", n)
	}
	if _, err := io.Copy(stdout, bytes.NewReader(out)); err != nil {
		return reportError(stderr, err)
	}
	return exitOK
}
