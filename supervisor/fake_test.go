package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/internal/procfs"
)

// fakeExec is an Execer whose "keepalived" processes are goroutine-free
// fakes controlled by the test.
type fakeExec struct {
	t *testing.T

	mu      sync.Mutex
	nextPID int
	procs   []*fakeProc
	running int
	checks  []checkCall
	checkFn func(content string) ([]byte, error) // nil: always OK
	// checkHang, if set, makes every check announce itself on the channel
	// and then run until its context ends, like a keepalived -t that is
	// killed by exec.CommandContext.
	checkHang  chan struct{}
	ignoreTERM bool
	started    chan *fakeProc
	alive      map[int]int // pid -> remaining IsKeepalived==true answers
	killed     []int
	// states overrides the /proc state Tree reports for a pid ('S'
	// otherwise); children adds processes below a pid.
	states    map[int]byte
	children  map[int][]procfs.Proc
	treeCalls int
}

type checkCall struct {
	file, content string
	args          []string
}

func newFakeExec(t *testing.T) *fakeExec {
	return &fakeExec{t: t, nextPID: 100, started: make(chan *fakeProc, 64), alive: map[int]int{},
		states: map[int]byte{}, children: map[int][]procfs.Proc{}}
}

func (f *fakeExec) Start(name string, args, env []string, stdout, stderr io.Writer) (Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running > 0 {
		f.t.Errorf("Start called while %d keepalived already running", f.running)
	}
	f.running++
	f.nextPID++
	p := &fakeProc{
		f: f, pid: f.nextPID, name: name, args: args, env: env, stdout: stdout, stderr: stderr,
		exit: make(chan ExitStatus, 1), sigs: make(chan os.Signal, 16), ignoreTERM: f.ignoreTERM,
	}
	f.procs = append(f.procs, p)
	f.started <- p
	return p, nil
}

func (f *fakeExec) Output(ctx context.Context, name string, args ...string) ([]byte, error) {
	file := args[len(args)-1]
	b, err := os.ReadFile(file)
	if err != nil {
		return []byte("Config files missing"), fmt.Errorf("exit status 4")
	}
	f.mu.Lock()
	f.checks = append(f.checks, checkCall{file: file, content: string(b), args: args})
	fn, hang := f.checkFn, f.checkHang
	f.mu.Unlock()
	if hang != nil {
		hang <- struct{}{}
		<-ctx.Done()
		return nil, errors.New("signal: killed")
	}
	if fn == nil {
		return nil, nil
	}
	return fn(string(b))
}

// Keepaliveds reports each pid in alive while its counter lasts.
func (f *fakeExec) Keepaliveds(string) ([]int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var pids []int
	for pid, n := range f.alive {
		if n > 0 {
			f.alive[pid]--
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

func (f *fakeExec) Kill(pid int, _ syscall.Signal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.killed = append(f.killed, pid)
	delete(f.alive, pid)
	return nil
}

// Tree reports pid as a keepalived in state states[pid] (default 'S'),
// followed by children[pid].
func (f *fakeExec) Tree(pid int) ([]procfs.Proc, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.treeCalls++
	st, ok := f.states[pid]
	if !ok {
		st = 'S'
	}
	return append([]procfs.Proc{{PID: pid, PPID: 1, Comm: "keepalived", State: st}}, f.children[pid]...), nil
}

func (f *fakeExec) setState(pid int, st byte) {
	f.mu.Lock()
	f.states[pid] = st
	f.mu.Unlock()
}

// waitTreeCalls waits until Tree was called n more times, so the progress
// check has seen the current state.
func (f *fakeExec) waitTreeCalls(t *testing.T, n int) {
	t.Helper()
	f.mu.Lock()
	want := f.treeCalls + n
	f.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		got := f.treeCalls
		f.mu.Unlock()
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("progress check ran %d times, want %d", got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func (f *fakeExec) checkCalls() []checkCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]checkCall(nil), f.checks...)
}

func (f *fakeExec) waitStarted(t *testing.T) *fakeProc {
	t.Helper()
	select {
	case p := <-f.started:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("keepalived was not started")
		return nil
	}
}

type fakeProc struct {
	f          *fakeExec
	pid        int
	name       string
	args, env  []string
	stdout     io.Writer
	stderr     io.Writer
	ignoreTERM bool

	exit chan ExitStatus
	sigs chan os.Signal
	once sync.Once
}

func (p *fakeProc) Pid() int { return p.pid }

func (p *fakeProc) Signal(s os.Signal) error {
	p.sigs <- s
	switch {
	case s == syscall.SIGKILL:
		p.Exit(ExitStatus{Code: -1, Signal: syscall.SIGKILL})
	case s == syscall.SIGTERM && !p.ignoreTERM:
		p.Exit(ExitStatus{Code: 0})
	}
	return nil
}

func (p *fakeProc) Wait() (ExitStatus, error) {
	st := <-p.exit
	p.f.mu.Lock()
	p.f.running--
	p.f.mu.Unlock()
	return st, nil
}

// Exit makes the fake process end with st (once).
func (p *fakeProc) Exit(st ExitStatus) {
	p.once.Do(func() { p.exit <- st })
}

// signals returns the signals received so far without blocking.
func (p *fakeProc) signals() []os.Signal {
	var out []os.Signal
	for {
		select {
		case s := <-p.sigs:
			out = append(out, s)
		default:
			return out
		}
	}
}

func (p *fakeProc) say(line string) {
	if _, err := io.WriteString(p.stderr, line+"\n"); err != nil {
		panic(err)
	}
}

// events collects Events from Options.OnEvent.
type events struct {
	ch  chan Event
	mu  sync.Mutex
	all []Event
}

func newEvents() *events { return &events{ch: make(chan Event, 256)} }

func (e *events) hook(ev Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
	e.ch <- ev
}

// next waits for the next event of one of kinds, failing on timeout; the
// events skipped on the way are returned too, in order.
func (e *events) next(t *testing.T, kinds ...EventKind) (Event, []Event) {
	t.Helper()
	var skipped []Event
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-e.ch:
			for _, k := range kinds {
				if ev.Kind == k {
					return ev, skipped
				}
			}
			skipped = append(skipped, ev)
		case <-deadline:
			t.Fatalf("no %v event; skipped %v", kinds, kindsOf(skipped))
			return Event{}, nil
		}
	}
}

func kindsOf(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Kind))
	}
	return out
}

// mutableRender is a Render func whose output the test changes.
type mutableRender struct {
	mu   sync.Mutex
	data string
	err  error
}

func (r *mutableRender) set(s string) { r.mu.Lock(); r.data = s; r.mu.Unlock() }
func (r *mutableRender) render(context.Context) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return []byte(r.data), r.err
}

// releases counts ReleaseVIPs calls.
type releases struct {
	mu sync.Mutex
	n  int
}

func (r *releases) release(context.Context) error { r.mu.Lock(); r.n++; r.mu.Unlock(); return nil }
func (r *releases) count() int                    { r.mu.Lock(); defer r.mu.Unlock(); return r.n }

var errBadConfig = errors.New("exit status 5")

// rejectBad is a checkFn that fails any config containing "bad".
func rejectBad(content string) ([]byte, error) {
	if strings.Contains(content, "bad") {
		return []byte("(k.conf: Line 1) Unknown keyword 'bad'"), errBadConfig
	}
	return nil, nil
}

// fakeClock is a settable Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
