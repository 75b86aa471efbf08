package supervisor

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testModeEnv switches the test binary into a helper role for the init
// tests: "init" runs runInit as a child subreaper, the other values are
// behaviours of the supervised child.
const testModeEnv = "SUPERVISOR_TEST_MODE"

func TestMain(m *testing.M) {
	switch mode := os.Getenv(testModeEnv); mode {
	case "":
		os.Exit(m.Run())
	case "init":
		if os.Getenv("SUPERVISOR_TEST_CHILD") == "init" {
			os.Exit(96) // never recurse
		}
		res := runInit(initConfig{
			path:      os.Args[0],
			args:      []string{os.Args[0]},
			env:       withEnv(os.Environ(), testModeEnv, os.Getenv("SUPERVISOR_TEST_CHILD")),
			log:       slog.New(slog.NewTextHandler(os.Stderr, nil)),
			drain:     5 * time.Second,
			subreaper: true,
		})
		fmt.Printf("RESULT %d %d\n", res.code, res.reaped)
		os.Exit(res.code)
	case "maybeinit":
		// Under `unshare --pid --fork` this process is PID 1.
		handled, code := MaybeInit(os.Args, slog.New(slog.NewTextHandler(os.Stderr, nil)), nil)
		if handled {
			fmt.Printf("RESULT %d 0\n", code)
			os.Exit(code)
		}
		if os.Getenv(InitChildEnv) != "1" || os.Getpid() == 1 {
			os.Exit(95)
		}
		orphans()
		os.Exit(5)
	case "child-orphans":
		orphans()
		os.Exit(3)
	case "sleeper":
		time.Sleep(200 * time.Millisecond)
		os.Exit(0)
	case "child-term":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGUSR1)
		fmt.Println("READY")
		s := <-sigs
		if s == syscall.SIGUSR1 {
			os.Exit(10)
		}
		os.Exit(42)
	case "child-selfkill":
		if err := syscall.Kill(os.Getpid(), syscall.SIGKILL); err != nil {
			os.Exit(98)
		}
		select {}
	default:
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", testModeEnv, mode)
		os.Exit(97)
	}
}

// orphans leaves three processes behind that exit shortly after the caller
// does; the init inherits them and must reap them.
func orphans() {
	for range 3 {
		cmd := exec.Command(os.Args[0])
		cmd.Env = withEnv(os.Environ(), testModeEnv, "sleeper")
		if err := cmd.Start(); err != nil {
			os.Exit(99)
		}
	}
}

// runTestInit starts the test binary as an init supervising child mode.
// If signalAfterReady is set, it is sent to the init once the child printed
// READY. It returns the exit code and the reaped count the init reported.
func runTestInit(t *testing.T, child string, signalAfterReady syscall.Signal) (code, reaped int) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = withEnv(withEnv(os.Environ(), testModeEnv, "init"), "SUPERVISOR_TEST_CHILD", child)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(20*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	code, reaped = -1, -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "READY" && signalAfterReady != 0:
			if err := cmd.Process.Signal(signalAfterReady); err != nil {
				t.Error(err)
			}
		case strings.HasPrefix(line, "RESULT "):
			if _, err := fmt.Sscanf(line, "RESULT %d %d", &code, &reaped); err != nil {
				t.Error(err)
			}
		}
	}
	err = cmd.Wait()
	if ee := (*exec.ExitError)(nil); err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if got := cmd.ProcessState.ExitCode(); got != code {
		t.Errorf("init exit code %d, reported %d", got, code)
	}
	return code, reaped
}

func TestInitReapsOrphansAndReturnsChildCode(t *testing.T) {
	code, reaped := runTestInit(t, "child-orphans", 0)
	if code != 3 {
		t.Errorf("exit code %d, want the child's 3", code)
	}
	if reaped != 3 {
		t.Errorf("reaped %d orphans, want 3", reaped)
	}
}

func TestInitForwardsSignals(t *testing.T) {
	tests := []struct {
		sig  syscall.Signal
		want int
	}{
		{syscall.SIGTERM, 42},
		{syscall.SIGUSR1, 10},
	}
	for _, tc := range tests {
		t.Run(tc.sig.String(), func(t *testing.T) {
			if code, _ := runTestInit(t, "child-term", tc.sig); code != tc.want {
				t.Errorf("exit code %d, want %d", code, tc.want)
			}
		})
	}
}

func TestInitMapsKilledChildTo128PlusSignal(t *testing.T) {
	if code, _ := runTestInit(t, "child-selfkill", 0); code != 128+9 {
		t.Errorf("exit code %d, want 137", code)
	}
}

func TestForwardedSignalsTable(t *testing.T) {
	for _, s := range []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGQUIT} {
		if !slices.Contains(forwardedSignals, s) {
			t.Errorf("%v is not forwarded", s)
		}
	}
	for _, s := range []os.Signal{syscall.SIGCHLD, syscall.SIGURG, syscall.SIGKILL, syscall.SIGSTOP} {
		if slices.Contains(forwardedSignals, s) {
			t.Errorf("%v must not be forwarded", s)
		}
	}
}

func TestExitCode(t *testing.T) {
	// Linux wait status encoding: exit code in bits 8-15, signal in 0-6.
	tests := []struct {
		ws   syscall.WaitStatus
		want int
	}{
		{0, 0},
		{3 << 8, 3},
		{255 << 8, 255},
		{syscall.WaitStatus(syscall.SIGKILL), 137},
		{syscall.WaitStatus(syscall.SIGTERM), 143},
		{syscall.WaitStatus(syscall.SIGSEGV) | 0x80, 139}, // core dumped
	}
	for _, tc := range tests {
		if got := exitCode(tc.ws); got != tc.want {
			t.Errorf("exitCode(%#x) = %d, want %d", uint32(tc.ws), got, tc.want)
		}
	}
}

func TestMaybeInitNotPID1(t *testing.T) {
	if handled, _ := MaybeInit(os.Args, nil, nil); handled {
		t.Error("MaybeInit handled a non-PID-1 process")
	}
}

func TestWithEnv(t *testing.T) {
	got := withEnv([]string{"A=1", "IPFAILOVER_INIT_CHILD=0", "AB=2", "IPFAILOVER_INIT_CHILD=x"}, InitChildEnv, "1")
	want := []string{"A=1", "AB=2", "IPFAILOVER_INIT_CHILD=1"}
	if !slices.Equal(got, want) {
		t.Errorf("withEnv = %v, want %v", got, want)
	}
}

func TestMaybeInitAsPID1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for unshare --pid")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare not found")
	}
	cmd := exec.Command(unshare, "--pid", "--fork", "--mount-proc", os.Args[0])
	cmd.Env = withEnv(os.Environ(), testModeEnv, "maybeinit")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if ee := (*exec.ExitError)(nil); err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if code := cmd.ProcessState.ExitCode(); code != 5 || !strings.Contains(string(out), "RESULT 5") {
		t.Errorf("exit code %d, output %q; want 5 from the agent child via PID 1", code, out)
	}
}
