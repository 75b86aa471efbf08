package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/ipfailover/ipfailover/agent"
	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/internal/cli"
	"github.com/ipfailover/ipfailover/supervisor"
)

var runCommand = command{Command: cli.Command{
	Name:    "run",
	Summary: "run the node agent (the default command; the container's entrypoint)",
	Long: `Validates the environment, waits for the interface, removes stale VIPs,
ensures the multicast accept rule, renders and checks keepalived.conf and
supervises keepalived until SIGTERM or SIGINT (then the VIPs are handed over
and released); SIGHUP re-renders. It is configured only by the environment
variables below; it takes no arguments.`,
	Example: "OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100-102 OPENSHIFT_HA_NETWORK_INTERFACE=eth0 ipfailover run",
	Footer:  envTable,
}}

// envTable lists every environment variable with its default, from the
// same source as env.Load (a test keeps the README table in sync).
func envTable(w io.Writer) {
	fmt.Fprintln(w, "environment:")
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, v := range env.Variables() {
		def := v.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Name, def, v.Description)
	}
	_ = tw.Flush()
}

// cmdRun is the node agent (package agent): configured by the environment,
// stopped by SIGTERM or SIGINT (stop, subscribed first thing in main), and
// re-rendered on SIGHUP.
func cmdRun(stop <-chan os.Signal) func(cli.Command, []string, io.Writer, io.Writer, *slog.Logger) int {
	return func(c cli.Command, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
		if handled, code := supervisor.MaybeInit(os.Args, log, stop); handled {
			return code
		}
		fs := c.NewFlagSet()
		if code, done := c.Parse(fs, args, stdout, stderr); done {
			return code
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "ipfailover run takes no arguments (got %q); it is configured by the environment ('ipfailover run --help')\n", fs.Args())
			return exitInvalid
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case sig := <-stop:
				log.Info("signal received: stopping", "signal", sig)
				cancel()
			case <-ctx.Done():
			}
		}()
		log.Info("starting ipfailover", "version", version, "pid", os.Getpid())
		cfg, code := loadConfig(stderr, log)
		if code != exitOK {
			return code
		}
		keepalived, err := agent.FindKeepalived()
		if err != nil {
			return reportError(stderr, err)
		}
		deps := agent.HostDeps(log, version)
		deps.Keepalived = keepalived
		if err := agent.Run(ctx, cfg, deps, onSIGHUP(log)); err != nil {
			if ctx.Err() != nil {
				log.Info("stopped during start-up", "err", err)
				return exitOK
			}
			return reportError(stderr, err)
		}
		return exitOK
	}
}

// onSIGHUP delivers SIGHUPs as reload requests; requests arriving while one
// is pending merge into it.
func onSIGHUP(log *slog.Logger) <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		for range sig {
			log.Info("SIGHUP received: re-rendering the configuration")
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	return reload
}
