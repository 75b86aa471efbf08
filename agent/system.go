package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ipfailover/ipfailover/hostnet"
	"github.com/ipfailover/ipfailover/iptables"
	"github.com/ipfailover/ipfailover/supervisor"
)

// jsonSignalTimeout bounds `keepalived --signum=JSON`.
const jsonSignalTimeout = 5 * time.Second

// HostDeps are the real dependencies: the host network over rtnetlink
// (package hostnet) and iptables. Keepalived is left nil: Run needs it
// (see FindKeepalived), Render and Cleanup do not.
func HostDeps(log *slog.Logger, version string) Deps {
	return Deps{OpenNet: openHostNet, Firewall: IPTables{}, Log: log, Version: version, Getenv: os.Getenv}
}

func openHostNet() (HostNet, error) {
	n, err := hostnet.New()
	if err != nil {
		return nil, err
	}
	return n, nil
}

// IPTables is the real Firewall: the iptables and ip6tables binaries.
type IPTables struct{}

// Open returns the filter table of the family's binary (iptables.New).
func (IPTables) Open(ipv6 bool) (iptables.Table, error) { return iptables.New(ipv6) }

// KeepalivedBinary is the real Keepalived: the binary at Path, run and
// checked through package supervisor.
type KeepalivedBinary struct{ Path string }

// FindKeepalived finds the keepalived binary on PATH, once for the run.
func FindKeepalived() (KeepalivedBinary, error) {
	p, err := exec.LookPath("keepalived")
	if err != nil {
		return KeepalivedBinary{}, fmt.Errorf("keepalived binary: %w", err)
	}
	return KeepalivedBinary{Path: p}, nil
}

// CheckConfigPath is supervisor.CheckConfigPath.
func (KeepalivedBinary) CheckConfigPath(path string) error { return supervisor.CheckConfigPath(path) }

// PrepareRunDir is supervisor.PrepareRunDir.
func (KeepalivedBinary) PrepareRunDir(dir string) error { return supervisor.PrepareRunDir(dir) }

// Lock is supervisor.Lock.
func (KeepalivedBinary) Lock(path string) (func(), error) { return supervisor.Lock(path) }

// CheckConfig is supervisor.CheckConfig with this binary.
func (k KeepalivedBinary) CheckConfig(ctx context.Context, conf []byte, timeout time.Duration) error {
	return supervisor.CheckConfig(ctx, k.Path, conf, timeout)
}

// Supervise is supervisor.Run with this binary.
func (k KeepalivedBinary) Supervise(ctx context.Context, o supervisor.Options, reload <-chan struct{}) error {
	o.Binary = k.Path
	return supervisor.Run(ctx, o, reload)
}

// JSONSignal asks keepalived which signal makes it write its JSON dump: it
// is SIGRTMIN+2, and SIGRTMIN differs between C libraries (34 on glibc),
// so it is never hard-coded.
func (k KeepalivedBinary) JSONSignal(ctx context.Context) (syscall.Signal, error) {
	ctx, cancel := context.WithTimeout(ctx, jsonSignalTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, k.Path, "--signum=JSON").Output()
	if err != nil {
		return 0, fmt.Errorf("%s --signum=JSON: %w (keepalived built without JSON support?)", k.Path, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || n <= 0 || n > 64 {
		return 0, errors.New(k.Path + " --signum=JSON printed " + strconv.Quote(string(out)) + ", not a signal number")
	}
	return syscall.Signal(n), nil
}
