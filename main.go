// Command ipfailover keeps virtual IP addresses highly available on a set of
// Linux nodes with keepalived and VRRP. It is a drop-in replacement for
// OpenShift's keepalived-ipfailover image, configured only by OPENSHIFT_HA_*
// environment variables.
//
// Exit codes: 0 success, 1 failure, 2 invalid configuration.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/supervisor"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes, documented in the README.
const (
	exitOK      = 0
	exitFailure = 1
	exitInvalid = 2
)

const usage = `usage: ipfailover [command] [flags]

commands:
  run                 run the node agent (default; the container's entrypoint)
  render              print keepalived.conf for this environment and exit
                      [--interface NAME] [--address IP]... stand in for host facts
  cleanup             remove this configuration's multicast rule and VIPs
  manifests [NAME] [flags]  print Kubernetes/OpenShift objects (like oc adm ipfailover)
  check tcp ADDR:PORT [--timeout D]
                      the default health check: connect, exit 0 on success
  status [--address HOST:PORT] [--json]
                      print the local agent's state (exit 0 healthy and ready)
  version             print the version

Configuration comes from OPENSHIFT_HA_* environment variables (see README).
Exit codes: 0 success, 1 failure, 2 invalid configuration.
`

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	switch cmd {
	case "run":
		return cmdRun(args, stderr, log)
	case "render":
		return cmdRender(args, stdout, stderr, log)
	case "status":
		return cmdStatus(args, stdout, stderr, log)
	case "cleanup":
		return cmdCleanup(args, stderr, log)
	case "manifests":
		return cmdManifests(args, stdout, stderr, log)
	case "check":
		return cmdCheck(args, stderr)
	case "version":
		fmt.Fprintln(stdout, "ipfailover", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "ipfailover: unknown command %q\n\n%s", cmd, usage)
		return exitInvalid
	}
}

// loadConfig reads the environment. Warnings go to the log; an invalid
// configuration prints one line per problem and returns exitInvalid.
func loadConfig(stderr io.Writer, log *slog.Logger) (env.Config, int) {
	cfg, warnings, err := env.Load(os.Environ())
	for _, w := range warnings {
		log.Warn(w.Message, "variable", w.Variable)
	}
	if err != nil {
		return env.Config{}, reportError(stderr, err)
	}
	return cfg, exitOK
}

// reportError prints err for a user and maps it to an exit code: every
// problem of an invalid configuration on its own line with exit code 2,
// anything else with exit code 1.
func reportError(stderr io.Writer, err error) int {
	var inv *env.InvalidError
	if errors.As(err, &inv) {
		for _, p := range inv.Problems {
			fmt.Fprintln(stderr, "invalid configuration:", p.String())
		}
		return exitInvalid
	}
	fmt.Fprintln(stderr, "ipfailover:", err)
	// Settings that name a file the agent must not touch, or a second
	// agent for the same configuration: a configuration problem, exit 2.
	var foreign *supervisor.ForeignFileError
	var runDir *supervisor.RunDirError
	var locked *supervisor.LockedError
	if errors.As(err, &foreign) || errors.As(err, &runDir) || errors.As(err, &locked) {
		return exitInvalid
	}
	return exitFailure
}
