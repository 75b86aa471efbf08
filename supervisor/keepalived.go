package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ipfailover/ipfailover/internal/procfs"
)

// Defaults for zero Options fields.
const (
	DefaultBinary       = "keepalived"
	DefaultCheckTimeout = 10 * time.Second
	DefaultStopTimeout  = 5 * time.Second
	DefaultBackoffMin   = 500 * time.Millisecond
	DefaultBackoffMax   = 30 * time.Second
	DefaultStablePeriod = 10 * time.Second
	DefaultDebounce     = 500 * time.Millisecond
	DefaultReadyTimeout = time.Second
	// DefaultHangTimeout is 3 adverts at the default 1 s interval plus 1 s:
	// how long a BACKUP waits for a silent MASTER before taking over.
	DefaultHangTimeout = 4 * time.Second
)

// maxHangPoll bounds the interval of the progress check; it is also at
// most a quarter of HangTimeout.
const maxHangPoll = time.Second

// releaseTimeout bounds ReleaseVIPs during shutdown, when the Run context is
// already cancelled.
const releaseTimeout = 10 * time.Second

// staleWaitPoll is how often a leftover keepalived is polled while it exits.
const staleWaitPoll = 50 * time.Millisecond

// readySettle is waited after a readiness log line before keepalived counts
// as ready, covering the few milliseconds the new VRRP child needs to set up
// its own signal handling.
const readySettle = 100 * time.Millisecond

// pidFiles are the pid files keepalived is told to write into RunDir, by
// the flag that names each.
var pidFiles = []struct{ flag, name string }{
	{"-p", "keepalived.pid"},
	{"-r", "vrrp.pid"},
	{"-c", "checkers.pid"},
	{"-b", "bfd.pid"},
}

// readyMarkers are keepalived log lines after which the parent process has
// its signal handling in place (measured on 2.2.7: the parent blocks HUP and
// reads it through a signalfd before it logs "Starting VRRP child process";
// the child keeps HUP blocked or ignored until its own signalfd is ready).
var readyMarkers = []string{"Starting VRRP child process", "Startup complete"}

// Options configures Run. Only ConfigPath, RunDir and Render are required.
type Options struct {
	// Logger receives the supervisor's records and keepalived's output
	// (one record per line, attribute source=keepalived). Nil discards.
	Logger *slog.Logger
	// Binary is the keepalived executable (default "keepalived" on PATH).
	Binary string
	// ConfigPath is where the rendered config is installed and what
	// keepalived reads (-f). Its directory must be writable: new configs are
	// staged next to it and renamed into place. The file gets mode 0600 and
	// ConfigMarker's line on top; Run refuses (*ForeignFileError) to replace
	// anything at the path but an empty file or one starting with the
	// marker, and never follows a symbolic link there (see CheckConfigPath).
	ConfigPath string
	// ExtraArgs are appended to keepalived's command line (not to the -t
	// check). They must not repeat -f, -p, -r, -c, -b, -n or -l.
	ExtraArgs []string
	// RunDir is an agent-owned directory for keepalived's pid files and its
	// TMPDIR (where SIGUSR1/SIGJSON dumps go). It is created (0700) if
	// missing and refused if others could write to it (see PrepareRunDir);
	// stale pid files in it are removed before every start.
	RunDir string
	// Render produces the complete desired configuration.
	Render func(ctx context.Context) ([]byte, error)
	// ReleaseVIPs removes this configuration's VIPs from the interface. It is
	// called after keepalived exited unexpectedly and after a stop, because
	// a crashed keepalived leaves its VIPs behind. Nil skips it.
	ReleaseVIPs func(ctx context.Context) error
	// WatchPaths are files whose change triggers a re-render (check script,
	// notify script, user template). Their directories are watched; empty
	// strings are ignored.
	WatchPaths []string
	// CheckTimeout bounds `keepalived -t` (default 10s).
	CheckTimeout time.Duration
	// StopTimeout is how long keepalived gets after SIGTERM before SIGKILL
	// (default 5s; keepalived normally exits 1.02 s after SIGTERM).
	StopTimeout time.Duration
	// BackoffMin and BackoffMax bound the delay before restarting a crashed
	// keepalived (defaults 500ms and 30s). A crash after a healthy run
	// restarts after BackoffMin; only consecutive crashes of runs shorter
	// than StablePeriod double the delay, up to BackoffMax.
	BackoffMin, BackoffMax time.Duration
	// StablePeriod is how long keepalived must run for the run to count as
	// healthy, so that its exit is a first crash again (default 10s: ten
	// adverts at the default interval, well past startup and the first
	// reload, where a broken config or environment makes keepalived exit).
	StablePeriod time.Duration
	// Debounce is how long watched files must stay quiet before a re-render
	// (default 500ms), so a burst of writes causes one reload.
	Debounce time.Duration
	// ReadyTimeout is the fallback after which a started keepalived is
	// considered ready for SIGHUP when no readiness log line was seen
	// (default 1s). After a readiness line, 100ms more is waited.
	ReadyTimeout time.Duration
	// Exec starts and inspects processes (default OSExecer).
	Exec Execer
	// OnEvent, if set, is called synchronously from Run's goroutine for
	// every lifecycle event (metrics hook). It must not block.
	OnEvent func(Event)
	// HangTimeout is how long keepalived may make no progress before it is
	// replaced: SIGKILLed with its whole process tree, VIPs released, and
	// restarted at once (no crash backoff). No progress means a keepalived
	// process of its tree is stopped (SIGSTOP, or traced by a debugger),
	// as read from /proc, or Liveness reports not ok; either continuously
	// for HangTimeout. Set it to 3 advert intervals + 1 s, the time the
	// peers wait before taking over from a silent MASTER (default
	// DefaultHangTimeout; negative disables the check).
	HangTimeout time.Duration
	// Liveness, if set, is polled with the /proc check (at least every
	// second, from Run's goroutine; it must not block) and reports whether
	// keepalived is making progress right now, e.g. whether it answered
	// the last state dump request. reason says what is wrong when not ok.
	Liveness func() (ok bool, reason string)
	// Now is the clock for uptimes and hang durations (default time.Now).
	// Timers still run on real time; tests inject a clock.
	Now func() time.Time
}

func (o *Options) setDefaults() error {
	if o.ConfigPath == "" {
		return errors.New("supervisor: Options.ConfigPath is empty; it must name the keepalived config file to write")
	}
	if o.RunDir == "" {
		return errors.New("supervisor: Options.RunDir is empty; it must name a directory for pid files")
	}
	if o.Render == nil {
		return errors.New("supervisor: Options.Render is nil")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Binary == "" {
		o.Binary = DefaultBinary
	}
	if o.Exec == nil {
		o.Exec = OSExecer{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.CheckTimeout, DefaultCheckTimeout)
	def(&o.StopTimeout, DefaultStopTimeout)
	def(&o.BackoffMin, DefaultBackoffMin)
	def(&o.BackoffMax, DefaultBackoffMax)
	def(&o.StablePeriod, DefaultStablePeriod)
	def(&o.Debounce, DefaultDebounce)
	def(&o.ReadyTimeout, DefaultReadyTimeout)
	if o.HangTimeout == 0 {
		o.HangTimeout = DefaultHangTimeout
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = o.BackoffMin
	}
	return nil
}

// procExit is what the per-process wait goroutine reports.
type procExit struct {
	status ExitStatus
	err    error
}

// supervisor is Run's state. It is only touched by Run's goroutine, except
// for the channels fed by per-process goroutines.
type supervisor struct {
	o     Options
	log   *slog.Logger
	store *configStore

	// The running keepalived; proc is nil while none runs. exitC and
	// markerC belong to that process only, so late messages from an old
	// process can never be mistaken for the current one.
	proc     Process
	started  time.Time
	exitC    chan procExit
	markerC  chan struct{}
	outLog   *lineLogger
	errLog   *lineLogger
	ready    bool
	hupOwed  bool // config changed after start; HUP once ready
	readyT   *time.Timer
	restartT *time.Timer
	// crashes counts consecutive exits of runs shorter than StablePeriod
	// (and failed starts); it sets the next restart delay.
	crashes int
	// stuckSince is when the progress check first failed for the running
	// keepalived (zero while it makes progress).
	stuckSince time.Time
}

// Run supervises keepalived until ctx is cancelled. It installs a checked
// config, starts keepalived, reloads it on hup and on changes of
// Options.WatchPaths, restarts it with backoff when it exits, and on
// cancellation stops it (SIGTERM, SIGKILL after StopTimeout), releases the
// VIPs and returns nil.
//
// It returns an error only for problems before keepalived first starts: bad
// Options, a render failure, a config rejected by `keepalived -t` (wrapping
// ErrConfigCheck), a file at ConfigPath the agent must not replace
// (*ForeignFileError), or keepalived failing to start. A ctx cancelled before
// keepalived started, even in the middle of `keepalived -t`, is a clean
// stop: Run returns nil and never reports the interrupted check as a
// rejection or a timeout.
func Run(ctx context.Context, o Options, hup <-chan struct{}) error {
	if err := o.setDefaults(); err != nil {
		return err
	}
	s := &supervisor{
		o:   o,
		log: o.Logger.With("component", "supervisor"),
		store: &configStore{
			path: o.ConfigPath, binary: o.Binary, exec: o.Exec, timeout: o.CheckTimeout,
		},
		readyT:   newStoppedTimer(),
		restartT: newStoppedTimer(),
	}
	defer s.readyT.Stop()
	defer s.restartT.Stop()

	if err := PrepareRunDir(o.RunDir); err != nil {
		return err
	}

	var hangC <-chan time.Time
	if o.HangTimeout > 0 {
		t := time.NewTicker(hangPoll(o.HangTimeout))
		defer t.Stop()
		hangC = t.C
	}

	watchC := make(chan struct{}, 1)
	fw, err := newFileWatcher(o.WatchPaths, s.log)
	if err != nil {
		// inotify limits are a node-wide resource; SIGHUP still works.
		s.log.Warn("file watching disabled; send SIGHUP to reload", "err", err)
	}
	if fw != nil {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go fw.run(wctx, o.Debounce, watchC)
	}

	if err := s.reconcile(ctx, TriggerStart, true); err != nil {
		if ctx.Err() != nil {
			return s.stoppedBeforeStart()
		}
		return err
	}
	if ctx.Err() != nil {
		return s.stoppedBeforeStart()
	}
	if err := s.start(ctx); err != nil {
		return err
	}

	for {
		select {
		case <-ctx.Done():
			s.stop(ctx)
			return nil
		case _, ok := <-hup:
			if !ok {
				hup = nil // a closed channel must not spin the loop
				continue
			}
			s.log.Info("reload requested", "trigger", TriggerSIGHUP)
			_ = s.reconcile(ctx, TriggerSIGHUP, false) // logged and reported inside
		case <-watchC:
			s.log.Info("watched file changed; re-rendering", "trigger", TriggerWatch)
			_ = s.reconcile(ctx, TriggerWatch, false)
		case <-s.markerC:
			s.markerC = nil // one readiness line is enough
			if !s.ready {
				if s.o.Now().Sub(s.started)+readySettle < o.ReadyTimeout {
					s.readyT.Reset(readySettle)
				}
			}
		case <-s.readyT.C:
			s.markReady()
		case ex := <-s.exitC:
			s.handleExit(ctx, ex)
		case <-hangC:
			s.checkProgress(ctx)
		case <-s.restartT.C:
			if ctx.Err() != nil {
				continue // shutting down; the ctx.Done case stops cleanly
			}
			_ = s.reconcile(ctx, TriggerRestart, false)
			if err := s.start(ctx); err != nil {
				s.log.Error("cannot restart keepalived", "err", err)
				s.scheduleRestart()
			}
		}
	}
}

// stoppedBeforeStart ends Run cleanly when it was cancelled before
// keepalived first started: nothing runs and no VIP was taken.
func (s *supervisor) stoppedBeforeStart() error {
	s.log.Info("stopped before keepalived was started")
	s.emit(Event{Kind: EventStopped})
	return nil
}

// reconcile renders the config and installs it if it changed. It returns
// an error only when the new config could not be installed. When force is
// set an unchanged file is checked anyway (first start: the file on disk
// may be a leftover from an earlier container).
func (s *supervisor) reconcile(ctx context.Context, trigger string, force bool) error {
	data, err := s.o.Render(ctx)
	if err != nil && ctx.Err() != nil {
		return s.interrupted(trigger, err)
	}
	if err != nil {
		err = fmt.Errorf("render keepalived config: %w", err)
		s.log.Error("config render failed; running config left untouched", "trigger", trigger, "err", err)
		s.emit(Event{Kind: EventReloadFailed, Trigger: trigger, Err: err})
		return err
	}
	data = withMarker(data)
	same, err := s.store.same(data)
	if err != nil {
		s.log.Error("config not installed; running config left untouched", "trigger", trigger, "err", err)
		s.emit(Event{Kind: EventReloadFailed, Trigger: trigger, Err: err})
		return err
	}
	if same {
		if err := s.store.fixMode(); err != nil {
			s.log.Warn("cannot fix config file mode", "path", s.o.ConfigPath, "err", err)
		}
		if force {
			if err := s.store.check(ctx, s.o.ConfigPath); err != nil {
				if ctx.Err() != nil {
					return s.interrupted(trigger, err)
				}
				s.log.Error("installed config rejected by keepalived -t", "path", s.o.ConfigPath, "err", err)
				s.emit(Event{Kind: EventReloadFailed, Trigger: trigger, Err: err})
				return err
			}
		}
		s.log.Info("config unchanged, no reload", "trigger", trigger, "path", s.o.ConfigPath)
		s.emit(Event{Kind: EventReloadUnchanged, Trigger: trigger})
		return nil
	}
	if err := s.store.install(ctx, data); err != nil {
		if ctx.Err() != nil {
			return s.interrupted(trigger, err)
		}
		s.log.Error("new config not installed; running config left untouched", "trigger", trigger, "err", err)
		s.emit(Event{Kind: EventReloadFailed, Trigger: trigger, Err: err})
		return err
	}
	s.log.Info("new config installed", "trigger", trigger, "path", s.o.ConfigPath, "bytes", len(data))
	s.emit(Event{Kind: EventReloadOK, Trigger: trigger})
	if s.proc != nil {
		s.hupOwed = true
		if s.ready {
			s.sendHUP()
		} else {
			s.log.Info("keepalived not ready for SIGHUP yet; reload deferred", "pid", s.proc.Pid())
		}
	}
	return nil
}

// interrupted reports a reconcile cut short by shutdown: not a failed
// reload, so no reload_failed event; the installed config is untouched.
func (s *supervisor) interrupted(trigger string, err error) error {
	s.log.Info("config update interrupted by shutdown; installed config left untouched", "trigger", trigger, "err", err)
	return err
}

// sendHUP asks the running keepalived to reload.
func (s *supervisor) sendHUP() {
	s.hupOwed = false
	pid := s.proc.Pid()
	if err := s.proc.Signal(syscall.SIGHUP); err != nil {
		// It is exiting; the exit path restarts it with the new file.
		s.log.Warn("cannot send SIGHUP to keepalived", "pid", pid, "err", err)
		return
	}
	s.log.Info("sent SIGHUP to keepalived", "pid", pid)
	s.emit(Event{Kind: EventHUPSent, PID: pid})
}

// markReady records that keepalived can take SIGHUP and sends a deferred one.
func (s *supervisor) markReady() {
	if s.proc == nil || s.ready {
		return
	}
	s.ready = true
	s.markerC = nil
	s.emit(Event{Kind: EventReady, PID: s.proc.Pid()})
	if s.hupOwed {
		s.sendHUP()
	}
}

// start launches keepalived. There is never more than one: the caller
// guarantees no process of ours runs, and leftovers named in pid files are
// waited for or killed first.
func (s *supervisor) start(ctx context.Context) error {
	if s.proc != nil {
		return fmt.Errorf("keepalived already running as pid %d", s.proc.Pid())
	}
	s.clearStale(ctx)

	args := []string{"--dont-fork", "--log-console", "-f", s.o.ConfigPath}
	for _, p := range pidFiles {
		args = append(args, p.flag, filepath.Join(s.o.RunDir, p.name))
	}
	args = append(args, s.o.ExtraArgs...)
	env := withEnv(os.Environ(), "TMPDIR", s.o.RunDir)

	markerC := make(chan struct{}, 1)
	onLine := func(msg string) {
		for _, m := range readyMarkers {
			if strings.Contains(msg, m) {
				select {
				case markerC <- struct{}{}:
				default:
				}
				return
			}
		}
	}
	outLog := newLineLogger(s.o.Logger, "stdout", onLine)
	errLog := newLineLogger(s.o.Logger, "stderr", onLine)
	proc, err := s.o.Exec.Start(s.o.Binary, args, env, outLog, errLog)
	if err != nil {
		return fmt.Errorf("start %s: %w", s.o.Binary, err)
	}
	exitC := make(chan procExit, 1)
	go func() {
		st, err := proc.Wait()
		exitC <- procExit{status: st, err: err}
	}()

	s.proc, s.exitC, s.markerC = proc, exitC, markerC
	s.outLog, s.errLog = outLog, errLog
	s.started = s.o.Now()
	s.ready = false
	s.hupOwed = false
	s.readyT.Reset(s.o.ReadyTimeout)
	s.log.Info("started keepalived", "pid", proc.Pid(), "args", strings.Join(args, " "))
	s.emit(Event{Kind: EventStarted, PID: proc.Pid()})
	return nil
}

// clearStale makes sure no keepalived of this configuration is still alive
// (for example the VRRP child of a parent that was SIGKILLed: it gets
// SIGTERM through PDEATHSIG, removes its pid file at once but exits about
// 1 s later), then removes the pid files in RunDir so keepalived cannot
// refuse to start with "daemon is already running".
func (s *supervisor) clearStale(ctx context.Context) {
	s.waitGone(ctx)
	for _, p := range pidFiles {
		path := filepath.Join(s.o.RunDir, p.name)
		if err := os.Remove(path); err == nil {
			s.log.Debug("removed stale pid file", "path", path)
		} else if !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("cannot remove stale pid file", "path", path, "err", err)
		}
	}
}

// waitGone gives leftover keepalived processes StopTimeout to exit, then
// kills them.
func (s *supervisor) waitGone(ctx context.Context) {
	pids, err := s.o.Exec.Keepaliveds(s.o.ConfigPath)
	if err != nil {
		s.log.Warn("cannot look for leftover keepalived processes", "err", err)
		return
	}
	if len(pids) == 0 {
		return
	}
	s.log.Warn("leftover keepalived still running; waiting for it to exit", "pids", pids)
	deadline := time.NewTimer(s.o.StopTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(staleWaitPoll)
	defer tick.Stop()
	for len(pids) > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		case <-deadline.C:
			for _, pid := range pids {
				s.log.Warn("leftover keepalived did not exit; sending SIGKILL", "pid", pid)
				if err := s.o.Exec.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
					s.log.Error("cannot kill leftover keepalived", "pid", pid, "err", err)
				}
			}
			return
		}
		if pids, err = s.o.Exec.Keepaliveds(s.o.ConfigPath); err != nil {
			s.log.Warn("cannot look for leftover keepalived processes", "err", err)
			return
		}
	}
}

// handleExit deals with keepalived exiting on its own.
func (s *supervisor) handleExit(ctx context.Context, ex procExit) {
	pid, uptime := s.forget()
	reason := ExitReason(ex.status)
	s.log.Error("keepalived exited unexpectedly",
		"pid", pid, "status", ex.status.String(), "reason", reason, "uptime", uptime.Round(time.Millisecond), "err", ex.err)
	s.emit(Event{Kind: EventExited, PID: pid, Status: ex.status, Reason: reason, Uptime: uptime, Err: ex.err})
	s.releaseVIPs(ctx)
	if uptime >= s.o.StablePeriod {
		s.crashes = 0 // a healthy run: this is a first crash again
	}
	s.scheduleRestart()
}

// forget clears the state of the process that just exited.
func (s *supervisor) forget() (pid int, uptime time.Duration) {
	pid, uptime = s.proc.Pid(), s.o.Now().Sub(s.started)
	// Wait returned, so the output copiers are done (or were cut off by
	// the pipe drain delay); log a final unterminated line, if any.
	s.outLog.Flush()
	s.errLog.Flush()
	s.proc, s.exitC, s.markerC = nil, nil, nil
	s.ready, s.hupOwed = false, false
	s.stuckSince = time.Time{}
	s.readyT.Stop()
	return pid, uptime
}

// scheduleRestart starts the restart timer: BackoffMin after the first
// crash, doubling per further consecutive crash, capped at BackoffMax.
func (s *supervisor) scheduleRestart() {
	delay := backoffDelay(s.o.BackoffMin, s.o.BackoffMax, s.crashes)
	s.crashes++
	s.restartT.Reset(delay)
	s.log.Info("keepalived restart scheduled", "delay", delay)
	s.emit(Event{Kind: EventRestartScheduled, Delay: delay})
}

// hangPoll is how often progress is checked: often enough that a stop is
// seen well within HangTimeout.
func hangPoll(hang time.Duration) time.Duration {
	return max(min(hang/4, maxHangPoll), time.Millisecond)
}

// stuck describes why keepalived is not making progress.
type stuck struct {
	pid    int    // the offending process
	state  byte   // its /proc state
	reason string // "" while keepalived makes progress
}

// progress checks the running keepalived once: a stopped process in its
// tree, then the caller's Liveness.
func (s *supervisor) progress() stuck {
	pid := s.proc.Pid()
	procs, err := s.o.Exec.Tree(pid)
	if err != nil {
		// Not evidence of a hang; Liveness may still tell.
		s.log.Debug("cannot read keepalived's processes", "pid", pid, "err", err)
	}
	var st byte
	for _, p := range procs {
		if p.PID == pid {
			st = p.State
		}
	}
	// Scripts keepalived runs are not keepalived: a stopped check script
	// is keepalived's (timeout) business.
	if p, ok := procfs.StoppedKeepalived(procs); ok {
		return stuck{pid: p.PID, state: p.State,
			reason: fmt.Sprintf("keepalived process %d is stopped (state %c: SIGSTOP or traced)", p.PID, p.State)}
	}
	if s.o.Liveness != nil {
		if ok, why := s.o.Liveness(); !ok {
			if why == "" {
				why = "liveness check failed"
			}
			return stuck{pid: pid, state: st, reason: why}
		}
	}
	return stuck{}
}

// checkProgress replaces keepalived once it made no progress for
// HangTimeout. The threshold is one poll shorter, because the problem may
// have begun up to a poll before it was first seen.
func (s *supervisor) checkProgress(ctx context.Context) {
	if s.proc == nil {
		return
	}
	st := s.progress()
	if st.reason == "" {
		if !s.stuckSince.IsZero() {
			s.log.Info("keepalived is making progress again", "pid", s.proc.Pid())
		}
		s.stuckSince = time.Time{}
		return
	}
	now := s.o.Now()
	if s.stuckSince.IsZero() {
		s.stuckSince = now
		s.log.Warn("keepalived is not making progress; replacing it if this lasts",
			"pid", st.pid, "state", string(st.state), "reason", st.reason, "hang_timeout", s.o.HangTimeout)
		return
	}
	if now.Sub(s.stuckSince) < s.o.HangTimeout-hangPoll(s.o.HangTimeout) {
		return
	}
	s.replaceHung(ctx, st, now.Sub(s.stuckSince))
}

// replaceHung SIGKILLs every process of the hung keepalived's tree (a
// stopped process ignores SIGTERM until continued, and the VRRP child of
// a killed parent would only get SIGTERM through PDEATHSIG), releases the
// VIPs it may still hold and starts a new keepalived at once: peers have
// already taken over, so the crash backoff would only lengthen the outage.
func (s *supervisor) replaceHung(ctx context.Context, st stuck, stuckFor time.Duration) {
	parent := s.proc.Pid()
	s.log.Error("keepalived is hung; killing its process tree and restarting it",
		"pid", st.pid, "state", string(st.state), "reason", st.reason,
		"for", stuckFor.Round(time.Millisecond), "parent", parent)
	s.emit(Event{Kind: EventHung, PID: st.pid, Reason: st.reason})
	procs, err := s.o.Exec.Tree(parent)
	if err != nil {
		s.log.Warn("cannot list keepalived's processes; killing the parent only", "pid", parent, "err", err)
	}
	for _, p := range procs {
		if p.PID == parent {
			continue // through the Process below, which knows it is ours
		}
		if err := s.o.Exec.Kill(p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			s.log.Warn("cannot kill keepalived process", "pid", p.PID, "err", err)
		}
	}
	if err := s.proc.Signal(syscall.SIGKILL); err != nil {
		s.log.Warn("cannot send SIGKILL to keepalived", "pid", parent, "err", err)
	}
	ex, ok := s.waitExit(s.o.StopTimeout)
	if !ok {
		// Uninterruptible sleep; the start below waits for it as a leftover.
		s.log.Error("hung keepalived did not exit after SIGKILL; starting a new one anyway", "pid", parent, "timeout", s.o.StopTimeout)
	}
	_, uptime := s.forget()
	s.emit(Event{Kind: EventExited, PID: parent, Status: ex.status, Reason: "killed by the supervisor: " + st.reason,
		Uptime: uptime, Err: ex.err})
	s.releaseVIPs(ctx)
	if ctx.Err() != nil {
		return // stopping; Run's loop returns next
	}
	s.log.Info("restarting keepalived now", "delay", time.Duration(0))
	s.emit(Event{Kind: EventRestartScheduled, Delay: 0})
	_ = s.reconcile(ctx, TriggerRestart, false)
	if err := s.start(ctx); err != nil {
		s.log.Error("cannot restart keepalived", "err", err)
		s.scheduleRestart()
	}
}

// backoffDelay is lo doubled n times, capped at hi.
func backoffDelay(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for range n {
		if d >= hi/2 {
			return hi
		}
		d *= 2
	}
	return min(d, hi)
}

// stop ends keepalived gracefully: SIGTERM, then SIGKILL after StopTimeout.
func (s *supervisor) stop(ctx context.Context) {
	s.restartT.Stop()
	if s.proc != nil {
		pid := s.proc.Pid()
		s.log.Info("stopping keepalived", "pid", pid)
		if err := s.proc.Signal(syscall.SIGTERM); err != nil {
			s.log.Warn("cannot send SIGTERM to keepalived", "pid", pid, "err", err)
		}
		ex, ok := s.waitExit(s.o.StopTimeout)
		if !ok {
			s.log.Warn("keepalived did not exit after SIGTERM; sending SIGKILL", "pid", pid, "timeout", s.o.StopTimeout)
			if err := s.proc.Signal(syscall.SIGKILL); err != nil {
				s.log.Warn("cannot send SIGKILL to keepalived", "pid", pid, "err", err)
			}
			ex, ok = s.waitExit(s.o.StopTimeout)
		}
		if ok {
			pid, uptime := s.forget()
			s.log.Info("keepalived stopped", "pid", pid, "status", ex.status.String())
			s.emit(Event{Kind: EventExited, PID: pid, Status: ex.status, Reason: "stopped by supervisor",
				Expected: true, Uptime: uptime, Err: ex.err})
		} else {
			s.log.Error("keepalived did not exit even after SIGKILL; giving up on it", "pid", pid)
		}
	}
	s.releaseVIPs(ctx)
	s.emit(Event{Kind: EventStopped})
}

func (s *supervisor) waitExit(d time.Duration) (procExit, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case ex := <-s.exitC:
		return ex, true
	case <-t.C:
		return procExit{}, false
	}
}

// releaseVIPs runs the caller's VIP cleanup with its own deadline, since it
// also runs after ctx was cancelled.
func (s *supervisor) releaseVIPs(ctx context.Context) {
	if s.o.ReleaseVIPs == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := s.o.ReleaseVIPs(rctx); err != nil {
		s.log.Error("cannot release VIPs", "err", err)
		return
	}
	s.log.Info("released VIPs")
}

func (s *supervisor) emit(ev Event) {
	if s.o.OnEvent != nil {
		s.o.OnEvent(ev)
	}
}

// newStoppedTimer returns a timer that has not fired and will not until
// Reset; its channel can sit in a select meanwhile.
func newStoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}
