package scripts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxOutput is how much of a script's output (its tail) is kept for logs
// and the status page.
const maxOutput = 1024

// Command is one run of a script: a notify call or a health check.
type Command struct {
	Argv    []string
	Env     []string      // nil: the agent's environment
	Timeout time.Duration // after this the process group gets SIGTERM
	// KillGrace is how long after SIGTERM the group gets SIGKILL (like
	// keepalived, which waits 2 s).
	KillGrace time.Duration
}

// Result is how a run ended.
type Result struct {
	Start    time.Time
	Duration time.Duration
	ExitCode int    // -1 when killed by a signal or not started
	Signal   string // the signal that ended it, if any
	TimedOut bool   // it outlived Timeout and was killed
	Err      error  // it could not be started, or exited non-zero
	Output   string // tail of stdout and stderr, trimmed
}

// OK reports whether the run exited 0 in time.
func (r Result) OK() bool { return r.Err == nil && !r.TimedOut && r.ExitCode == 0 }

// ExecFunc runs a Command; RunCommand in production, fakes in tests.
type ExecFunc func(ctx context.Context, c Command) Result

// newOutputFile returns an unlinked temporary file for a command's output.
// A file rather than a pipe: background children a script leaves running
// inherit it, and with a pipe Wait would block until they exit too.
func newOutputFile() (*os.File, error) {
	f, err := os.CreateTemp("", "ipfailover-run-*")
	if err != nil {
		return nil, fmt.Errorf("command output file: %w", err)
	}
	_ = os.Remove(f.Name()) // unlinked: gone with the last descriptor
	return f, nil
}

// tail returns the last maxOutput bytes written to f, trimmed.
func tail(f *os.File) string {
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-maxOutput, 0)
	buf := make([]byte, st.Size()-off)
	n, _ := f.ReadAt(buf, off)
	return strings.TrimSpace(string(bytes.ToValidUTF8(buf[:n], nil)))
}

// RunCommand runs c in its own process group. On timeout (or ctx) the whole
// group gets SIGTERM and, KillGrace later or as soon as the script itself
// has exited, SIGKILL, so a hanging script and everything it started are
// gone before the next run.
//
// Whenever the script exits, passing or failing, whatever it left running
// in its process group (`sleep 1000 &`) is SIGKILLed too: a check run every
// few seconds would otherwise pile up processes until the node runs out of
// PIDs. A script that must start something long-lived has to detach it
// into its own session (setsid).
func RunCommand(ctx context.Context, c Command) Result {
	r := Result{Start: time.Now(), ExitCode: -1}
	if len(c.Argv) == 0 {
		r.Err = errors.New("empty command")
		return r
	}
	out, err := newOutputFile()
	if err != nil {
		r.Err = err
		return r
	}
	defer out.Close()
	cmd := exec.Command(c.Argv[0], c.Argv[1:]...)
	cmd.Env = c.Env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Err = fmt.Errorf("start %s: %w", c.Argv[0], err)
		r.Duration = time.Since(r.Start)
		return r
	}
	g := &procGroup{pgid: cmd.Process.Pid}
	waitC := make(chan error, 1)
	go func() {
		g.leaderExited(waitExited(g.pgid))
		waitC <- cmd.Wait()
	}()

	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 365 * 24 * time.Hour
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err = <-waitC:
	case <-timer.C:
		r.TimedOut = true
		err = terminate(g, c.KillGrace, waitC)
	case <-ctx.Done():
		r.TimedOut = true
		err = terminate(g, 0, waitC)
	}
	r.Duration = time.Since(r.Start)
	r.Output = tail(out)
	if cmd.ProcessState != nil {
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled():
			r.Signal = ws.Signal().String()
		case ws.Exited():
			r.ExitCode = ws.ExitStatus()
		}
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) && !errors.Is(err, exec.ErrWaitDelay) {
		r.Err = fmt.Errorf("wait for %s: %w", c.Argv[0], err)
	} else if r.ExitCode != 0 {
		r.Err = fmt.Errorf("%s: %s", c.Argv[0], describe(r))
	}
	return r
}

// waitExited blocks until pid has exited, without reaping it. It reports
// false when it could not wait (never expected for our own child), so the
// caller does not kill a group whose leader may still run.
func waitExited(pid int) bool {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return err == nil
		}
	}
}

// procGroup signals a run's process group only while its leader is
// unreaped: the leader's PID is the group's ID and cannot be reused before
// it is reaped, so a signal can never reach an unrelated group.
type procGroup struct {
	mu      sync.Mutex
	pgid    int
	reaping bool
}

// signal sends sig to the group unless the leader is being reaped, in
// which case leaderExited has already killed the group.
func (g *procGroup) signal(sig syscall.Signal) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.reaping {
		_ = syscall.Kill(-g.pgid, sig) // ESRCH: nothing left
	}
}

// leaderExited kills whatever the script left in its group (when exited
// is true) and stops further signals; the caller reaps the leader next.
func (g *procGroup) leaderExited(exited bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if exited {
		_ = syscall.Kill(-g.pgid, syscall.SIGKILL) // ESRCH: nothing left
	}
	g.reaping = true
}

// terminate sends SIGTERM to the group, then SIGKILL once grace passed
// (the wait goroutine kills the group as soon as the leader exits), and
// returns the leader's wait error.
func terminate(g *procGroup, grace time.Duration, waitC <-chan error) error {
	g.signal(syscall.SIGTERM)
	if grace > 0 {
		t := time.NewTimer(grace)
		select {
		case err := <-waitC:
			t.Stop()
			return err
		case <-t.C:
		}
	}
	g.signal(syscall.SIGKILL)
	return <-waitC
}

// describe says how a run ended, for logs.
func describe(r Result) string {
	switch {
	case r.TimedOut:
		return "timed out and was killed"
	case r.Signal != "":
		return "killed by signal " + r.Signal
	case r.Err != nil && r.ExitCode == -1:
		return r.Err.Error()
	}
	return fmt.Sprintf("exit status %d", r.ExitCode)
}

// Describe says how a run ended ("exit status 0", "timed out and was
// killed", ...).
func (r Result) Describe() string {
	if r.Err != nil && r.ExitCode == -1 && !r.TimedOut && r.Signal == "" {
		return r.Err.Error()
	}
	return describe(r)
}
