package health

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/render"
	"github.com/ipfailover/ipfailover/scripts"
)

func readStatus(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFirstResultOnDiskBeforeStartReturns: keepalived reads the file as it
// starts, so Start must not return before the first result is written.
func TestFirstResultOnDiskBeforeStartReturns(t *testing.T) {
	for _, c := range []struct {
		name string
		res  scripts.Result
		want string
	}{
		{"passing", scripts.Result{}, "0\n"},
		{"failing", scripts.Result{ExitCode: 1}, "1\n"},
		{"timed out", scripts.Result{TimedOut: true}, "1\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "check.status")
			var runs atomic.Int32
			var argv []string
			var results []scripts.Result
			r := New(Options{
				Check:      render.Check{Name: "chk", Command: "/bin/check --strict", Interval: 3600, Timeout: 1},
				StatusFile: file,
				Exec: func(_ context.Context, cmd scripts.Command) scripts.Result {
					runs.Add(1)
					argv = cmd.Argv
					return c.res
				},
				OnResult: func(res scripts.Result) { results = append(results, res) },
			})
			r.Start(t.Context())
			if got := readStatus(t, file); got != c.want {
				t.Errorf("status file %q, want %q", got, c.want)
			}
			r.Stop()
			if n := runs.Load(); n < 1 || strings.Join(argv, " ") != "/bin/check --strict" {
				t.Errorf("runs %d argv %q", n, argv)
			}
			if len(results) < 1 || r.Failing() != !c.res.OK() {
				t.Errorf("results %v, failing %v", results, r.Failing())
			}
			if c.res.TimedOut != (r.Timeouts() > 0) {
				t.Errorf("timeouts %d", r.Timeouts())
			}
		})
	}
}

// TestMissingScriptIsSkipped: a user's script that is not there counts as
// passing (as keepalived treated it for the original image) and is
// reported as unavailable.
func TestMissingScriptIsSkipped(t *testing.T) {
	file := filepath.Join(t.TempDir(), "check.status")
	r := New(Options{
		Check:       render.Check{Name: "chk", Command: "/nonexistent/check.sh", Interval: 3600, Timeout: 1},
		StatusFile:  file,
		SkipMissing: true,
		Exec: func(context.Context, scripts.Command) scripts.Result {
			t.Error("a missing script must not be run")
			return scripts.Result{Err: errors.New("ran")}
		},
	})
	r.Start(t.Context())
	defer r.Stop()
	if got := readStatus(t, file); got != "0\n" || r.Unavailable() == "" || r.Failing() {
		t.Errorf("status %q, unavailable %q, failing %v", got, r.Unavailable(), r.Failing())
	}
}

func TestStopWithoutStart(t *testing.T) {
	New(Options{Check: render.Check{Interval: 1}}).Stop()
}

func TestCommandRunsThisBinaryForTheBuiltInCheck(t *testing.T) {
	if got := Command("/etc/check.sh --x"); got != "/etc/check.sh --x" {
		t.Errorf("user script changed: %q", got)
	}
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	if got, want := Command(render.CheckProgram+" check tcp 192.0.2.10:80 --timeout 800ms"), self+" check tcp 192.0.2.10:80 --timeout 800ms"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := TCP(addr, 2*time.Second); err != nil {
		t.Errorf("open port: %v", err)
	}
	l.Close()
	if err := TCP(addr, 2*time.Second); err == nil || !strings.HasPrefix(err.Error(), "check tcp: ") {
		t.Errorf("closed port: %v", err)
	}
}
