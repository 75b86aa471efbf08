package supervisor

import (
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// InitChildEnv is the environment marker set on the agent process started by
// the PID-1 init. Its presence tells MaybeInit that it runs in the child and
// must not start another one.
const InitChildEnv = "IPFAILOVER_INIT_CHILD"

// initDrainTimeout bounds how long the init keeps reaping after its child
// exited. keepalived needs about 1.02 s after SIGTERM to exit (it releases
// its VIPs within milliseconds, then waits on a 1 s timer); if the agent
// died without stopping keepalived, keepalived got SIGTERM through
// Pdeathsig and this window lets it finish before the kernel SIGKILLs
// everything left in the PID namespace when PID 1 exits.
const initDrainTimeout = 1500 * time.Millisecond

// forwardedSignals are the signals the init passes on to its child. SIGCHLD
// is the init's own business, and SIGURG is used internally by the Go
// runtime for goroutine preemption, so neither is ever forwarded.
var forwardedSignals = []os.Signal{
	syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGQUIT,
}

// MaybeInit makes the process behave like tini when it runs as PID 1: it
// re-executes its own binary with the same arguments, environment and stdio
// as its only direct child, forwards termination and user signals to it,
// reaps every zombie re-parented to PID 1, and finally reports the child's
// exit status (128+signal when the child was killed).
//
// args is the full argument vector, normally os.Args. When the process is
// not PID 1, or is already the child (InitChildEnv is set), MaybeInit
// returns handled=false and the caller continues as the agent.
//
// pending, if not nil, is a channel the process subscribed to termination
// signals first thing in main: a signal that arrived before MaybeInit ran
// is forwarded to the child as soon as it is started, so a SIGTERM in the
// first milliseconds of a pod is not lost (the kernel drops signals to a
// namespace's PID 1 that has no handler).
func MaybeInit(args []string, log *slog.Logger, pending <-chan os.Signal) (handled bool, exitCode int) {
	if os.Getpid() != 1 || os.Getenv(InitChildEnv) == "1" {
		return false, 0
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res := runInit(initConfig{
		path:    selfPath(),
		args:    args,
		env:     withEnv(os.Environ(), InitChildEnv, "1"),
		log:     log.With("component", "init"),
		drain:   initDrainTimeout,
		pending: pending,
	})
	return true, res.code
}

// selfPath is the agent's own executable for the re-exec. The resolved
// path rather than /proc/self/exe, so the child's process name is
// "ipfailover" (ps, pgrep) and not "exe".
func selfPath() string {
	if p, err := os.Executable(); err == nil {
		return p
	}
	return "/proc/self/exe"
}

// initConfig is the input of runInit; separate from MaybeInit so tests can
// run the same loop as a child subreaper instead of as PID 1.
type initConfig struct {
	path      string
	args      []string
	env       []string
	log       *slog.Logger
	drain     time.Duration
	subreaper bool // become a child subreaper (tests only; PID 1 is one implicitly)
	// pending holds signals received before the init loop subscribed.
	pending <-chan os.Signal
}

// initResult reports what the init loop did.
type initResult struct {
	code   int // exit code to return from the process
	reaped int // processes reaped other than the direct child
}

// runInit starts the child and supervises it until it exits.
func runInit(c initConfig) initResult {
	// Subscribe before starting the child so neither its SIGCHLD nor an early
	// SIGTERM can be lost.
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, append([]os.Signal{syscall.SIGCHLD}, forwardedSignals...)...)
	defer signal.Stop(sigs)

	if c.subreaper {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			c.log.Error("cannot become child subreaper", "err", err)
			return initResult{code: 1}
		}
	}

	pid, err := syscall.ForkExec(c.path, c.args, &syscall.ProcAttr{
		Env:   c.env,
		Files: []uintptr{0, 1, 2},
		// Setpgid stays false: the child must share our process group and
		// receive forwarded signals as the sole target.
		Sys: &syscall.SysProcAttr{},
	})
	if err != nil {
		c.log.Error("cannot start agent process", "path", c.path, "err", err)
		return initResult{code: 1}
	}
	c.log.Debug("started agent process", "pid", pid)

	var res initResult
	forwarded := map[syscall.Signal]bool{}
	forward := func(sig syscall.Signal) {
		forwarded[sig] = true
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			c.log.Warn("cannot forward signal", "signal", sig, "pid", pid, "err", err)
		}
	}
	for drained := false; !drained; {
		select {
		case sig := <-c.pending:
			forward(sig.(syscall.Signal))
		default:
			drained = true
		}
	}
	childDone := false
	for !childDone {
		sig := <-sigs
		if sig != syscall.SIGCHLD {
			forward(sig.(syscall.Signal))
			continue
		}
		n, status, found := reapAll(pid)
		res.reaped += n
		if found {
			childDone = true
			res.code = exitCode(status)
			// A child killed by the stop signal we forwarded, before it
			// could handle it (its first milliseconds), changed nothing:
			// that is a clean stop.
			if status.Signaled() && forwarded[status.Signal()] &&
				(status.Signal() == syscall.SIGTERM || status.Signal() == syscall.SIGINT) {
				res.code = 0
			}
		}
	}

	// The child is gone; keep reaping whatever else exits (keepalived on
	// its way down, orphaned scripts) until nothing is left or the window
	// closes. Returning exits PID 1, which kills the rest of the namespace.
	deadline := time.NewTimer(c.drain)
	defer deadline.Stop()
	for {
		n, _, _ := reapAll(0)
		res.reaped += n
		if !hasChildren() {
			return res
		}
		select {
		case <-sigs: // SIGCHLD or a late signal with nobody to forward to
		case <-deadline.C:
			c.log.Warn("processes still running after agent exit; leaving them to the kernel")
			return res
		}
	}
}

// reapAll collects every exited child without blocking. It returns how many
// processes other than child it reaped, and child's status if child was
// among them (child 0 means no special child).
func reapAll(child int) (others int, childStatus syscall.WaitStatus, childFound bool) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 { // ECHILD or nothing exited yet
			return others, childStatus, childFound
		}
		if child != 0 && pid == child {
			childStatus, childFound = ws, true
			continue
		}
		others++
	}
}

// hasChildren reports whether any child (running or zombie) remains, using
// a non-reaping wait so no status is consumed.
func hasChildren() bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return err == nil
}

// withEnv returns env with key set to val, dropping any earlier entries for
// key: syscall.ForkExec passes duplicates through and getenv returns the
// first one, so appending alone would not override an inherited value.
func withEnv(env []string, key, val string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+val)
}

// exitCode maps a wait status to a shell-style exit code: the exit status,
// or 128+signal for a killed process.
func exitCode(ws syscall.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	default:
		return 1
	}
}
