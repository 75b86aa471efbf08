// Command ipfailover keeps virtual IP addresses highly available on a set of
// Linux nodes with keepalived and VRRP. It is a drop-in replacement for
// OpenShift's keepalived-ipfailover image, configured only by OPENSHIFT_HA_*
// environment variables. This package only parses the command line; the
// agent is package agent.
//
// Exit codes: 0 success, 1 failure, 2 invalid configuration or command
// line, 3 (status only) reachable but degraded.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/internal/cli"
	"github.com/ipfailover/ipfailover/internal/logging"
	"github.com/ipfailover/ipfailover/supervisor"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes, documented in the README.
const (
	exitOK       = cli.ExitOK
	exitFailure  = cli.ExitFailure
	exitInvalid  = cli.ExitInvalid
	exitDegraded = 3
)

// command is one subcommand: its help and its implementation.
type command struct {
	cli.Command
	run func(c cli.Command, args []string, stdout, stderr io.Writer, log *slog.Logger) int
}

func commands(stop <-chan os.Signal) []command {
	return []command{
		{runCommand.Command, cmdRun(stop)},
		{renderCommand.Command, cmdRender},
		{statusCommand.Command, cmdStatus},
		{cleanupCommand.Command, cmdCleanup},
		{manifestsCommand.Command, cmdManifests},
		{checkCommand.Command, cmdCheck},
		{versionCommand.Command, cmdVersion},
	}
}

func main() {
	// Subscribe to the stop signals before anything else: the agent runs as
	// a pod's PID 1, whose signals the kernel drops while no handler is
	// installed, and Go's default would exit with status 2 mid-start.
	stop := make(chan os.Signal, 4)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr, stop))
}

// realMain dispatches the command line; stop delivers SIGTERM and SIGINT
// (nil in tests).
func realMain(args []string, stdout, stderr io.Writer, stop <-chan os.Signal) int {
	// The logging variables are read first, so that even the
	// environment's own warnings come out in the chosen format; a bad value
	// is reported with every other problem by env.Load (exit 2).
	log, _ := logging.New(stderr, os.Getenv(logging.FormatVar), os.Getenv(logging.LevelVar))
	name := "run"
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "help" || a == "-h" || a == "--help":
			usage(stdout)
			return exitOK
		case a == "--version":
			return cmdVersion(versionCommand.Command, nil, stdout, stderr, log)
		case !strings.HasPrefix(a, "-"):
			name, args = a, args[1:]
		}
	}
	cmds := commands(stop)
	i := slices.IndexFunc(cmds, func(c command) bool { return c.Name == name })
	if i < 0 {
		names := make([]string, len(cmds))
		for j, c := range cmds {
			names[j] = c.Name
		}
		msg := fmt.Sprintf("ipfailover: unknown command %q", name)
		if s := cli.Suggest(name, append(names, "help")); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		fmt.Fprintf(stderr, "%s\nRun 'ipfailover --help' for usage.\n", msg)
		return exitInvalid
	}
	return cmds[i].run(cmds[i].Command, args, stdout, stderr, log)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `ipfailover keeps virtual IP addresses highly available with keepalived and VRRP,
as a drop-in replacement for OpenShift's keepalived-ipfailover image.

usage: ipfailover [command] [flags]

commands:
`)
	for _, c := range commands(nil) {
		fmt.Fprintf(w, "  %-10s %s\n", c.Name, c.Summary)
	}
	fmt.Fprint(w, `
Without a command, ipfailover runs the node agent ("run"), configured by
OPENSHIFT_HA_* environment variables ('ipfailover run --help' lists them).
'ipfailover COMMAND --help' describes a command.

exit codes: 0 success, 1 failure, 2 invalid configuration or command line,
3 (status) the agent answers but is degraded.
`)
}

var versionCommand = command{Command: cli.Command{
	Name: "version", Summary: "print the version",
	Example: "ipfailover version\nipfailover --version",
}}

func cmdVersion(c cli.Command, args []string, stdout, stderr io.Writer, _ *slog.Logger) int {
	fs := c.NewFlagSet()
	if code, done := c.Parse(fs, args, stdout, stderr); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ipfailover version takes no arguments (got %q)\n", fs.Args())
		return exitInvalid
	}
	fmt.Fprintln(stdout, "ipfailover", version)
	return exitOK
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
