package supervisor

import (
	"github.com/ipfailover/ipfailover/internal/procfs"

	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Execer is the seam through which the supervisor touches processes, so the
// lifecycle logic is unit-tested with a fake. OSExecer is the real one.
type Execer interface {
	// Start launches a long-running process. stdout and stderr receive its
	// output. The process must not be tied to a context: the supervisor
	// decides how it is stopped.
	Start(name string, args, env []string, stdout, stderr io.Writer) (Process, error)
	// Output runs a short command to completion and returns its combined
	// stdout and stderr. A non-zero exit is reported as an error; the
	// command is killed when ctx ends.
	Output(ctx context.Context, name string, args ...string) ([]byte, error)
	// Keepaliveds lists live (non-zombie) keepalived processes whose command
	// line names configPath: leftovers of an earlier instance of this
	// configuration, such as the VRRP child of a parent that was killed.
	Keepaliveds(configPath string) ([]int, error)
	// Kill sends sig to an arbitrary pid (a leftover keepalived).
	Kill(pid int, sig syscall.Signal) error
	// Tree lists pid and every process below it, pid first, with their
	// /proc states; empty when pid is gone.
	Tree(pid int) ([]procfs.Proc, error)
}

// Process is a started long-running process.
type Process interface {
	Pid() int
	Signal(os.Signal) error
	// Wait blocks until the process exits. It is called exactly once.
	Wait() (ExitStatus, error)
}

// OSExecer implements Execer with os/exec.
type OSExecer struct{}

var _ Execer = OSExecer{}

// pipeDrainDelay bounds how long Wait keeps reading keepalived's stdout and
// stderr after it exited: orphaned scripts may hold the pipes open.
const pipeDrainDelay = time.Second

// Start implements Execer.
func (OSExecer) Start(name string, args, env []string, stdout, stderr io.Writer) (Process, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = pipeDrainDelay
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group: a terminal's Ctrl-C or a group-wide signal
		// reaches only the agent, which then stops keepalived in order.
		Setpgid: true,
		// If the agent dies without stopping keepalived, keepalived still
		// gets SIGTERM, sends its priority-0 adverts and removes the VIPs.
		Pdeathsig: syscall.SIGTERM,
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &osProcess{cmd: cmd}, nil
}

// Output implements Execer.
func (OSExecer) Output(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = pipeDrainDelay
	return cmd.CombinedOutput()
}

// Keepaliveds implements Execer by scanning /proc. keepalived's children
// are forked without exec, so they carry the parent's command line.
func (OSExecer) Keepaliveds(configPath string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if !isLiveKeepalived(pid) {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue // exited meanwhile
		}
		if slices.Contains(strings.Split(string(cmdline), "\x00"), configPath) ||
			strings.Contains(string(cmdline), "--use-file="+configPath+"\x00") {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// isLiveKeepalived reports whether pid is a running (not zombie) process
// whose command name is keepalived.
func isLiveKeepalived(pid int) bool {
	p, err := procfs.Read("/proc", pid)
	return err == nil && p.Comm == "keepalived" && p.Live()
}

// Kill implements Execer.
func (OSExecer) Kill(pid int, sig syscall.Signal) error {
	return syscall.Kill(pid, sig)
}

// Tree implements Execer from /proc.
func (OSExecer) Tree(pid int) ([]procfs.Proc, error) {
	all, err := procfs.List("/proc")
	if err != nil {
		return nil, err
	}
	return procfs.Tree(all, pid), nil
}

type osProcess struct{ cmd *exec.Cmd }

func (p *osProcess) Pid() int { return p.cmd.Process.Pid }

func (p *osProcess) Signal(s os.Signal) error { return p.cmd.Process.Signal(s) }

func (p *osProcess) Wait() (ExitStatus, error) {
	err := p.cmd.Wait()
	ps := p.cmd.ProcessState
	if ps == nil {
		return ExitStatus{Code: -1}, fmt.Errorf("wait for pid %d: %w", p.cmd.Process.Pid, err)
	}
	// A non-zero exit (*exec.ExitError) or pipes held open past WaitDelay
	// are not wait failures: the status below says what happened.
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok {
		return ExitStatus{Code: ps.ExitCode()}, nil
	}
	if ws.Signaled() {
		return ExitStatus{Code: -1, Signal: ws.Signal()}, nil
	}
	return ExitStatus{Code: ws.ExitStatus()}, nil
}
