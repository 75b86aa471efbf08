package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ipfailover/ipfailover/agent"
	"github.com/ipfailover/ipfailover/supervisor"
)

// cmdRun is the node agent (package agent): configured by the environment,
// stopped by SIGTERM or SIGINT, re-rendered on SIGHUP.
func cmdRun(args []string, stderr io.Writer, log *slog.Logger) int {
	if handled, code := supervisor.MaybeInit(os.Args, log); handled {
		return code
	}
	if len(args) > 0 {
		fmt.Fprintf(stderr, "ipfailover run takes no arguments (got %q); it is configured by the environment\n", args)
		return exitInvalid
	}
	log.Info("starting ipfailover", "version", version, "pid", os.Getpid())
	cfg, code := loadConfig(stderr, log)
	if code != exitOK {
		return code
	}
	keepalived, err := agent.FindKeepalived()
	if err != nil {
		return reportError(stderr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	deps := agent.HostDeps(log, version)
	deps.Keepalived = keepalived
	if err := agent.Run(ctx, cfg, deps, onSIGHUP(log)); err != nil {
		return reportError(stderr, err)
	}
	return exitOK
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
