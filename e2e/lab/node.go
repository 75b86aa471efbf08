package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/ipfailover/ipfailover/internal/procfs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrKilled is returned by Stop when the process had to be SIGKILLed.
var ErrKilled = errors.New("did not exit in time, killed")

// Spec says what a node runs as PID 1 of its namespaces.
type Spec struct {
	Argv []string // absolute path of the program first
	Env  []string // KEY=VALUE; the process gets exactly these plus a default PATH
}

// defaultPath is the PATH a node process gets unless Spec.Env sets one.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Node is one lab node: an endpoint whose namespace runs the process under
// test and the name service.
type Node struct {
	Endpoint
	lab *Lab

	mu   sync.Mutex
	spec Spec
	cur  *initProc
	svc  *service
}

// initProc is one run of the node's PID 1.
type initProc struct {
	cmd   *exec.Cmd
	pid1  int           // host PID of the node's PID 1
	done  chan struct{} // closed when the process has been waited for
	state *os.ProcessState
}

// LogPath is the file that collects the node process's stdout and stderr
// over all its runs.
func (n *Node) LogPath() string {
	return filepath.Join(n.lab.opts.Dir, n.NS+".log")
}

// LogTail returns the last lines of the node's log (for failure reports).
func (n *Node) LogTail(lines int) string {
	b, err := os.ReadFile(n.LogPath())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// Start runs spec as PID 1 of a new PID and mount namespace inside the
// node's network namespace. The mount namespace has private tmpfs mounts
// over the lab's Tmpfs directories and its own /proc. Start returns once the
// PID 1 exists; it does not wait for the program to be ready.
func (n *Node) Start(spec Spec) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cur != nil && !isDone(n.cur.done) {
		return fmt.Errorf("start %s: already running as host PID %d", n.Name, n.cur.pid1)
	}
	if len(spec.Argv) == 0 {
		return fmt.Errorf("start %s: empty Spec.Argv", n.Name)
	}
	logf, err := os.OpenFile(n.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	fmt.Fprintf(logf, "=== lab: %s start %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(spec.Argv, " "))
	args := []string{"netns", "exec", n.NS,
		// --kill-child: PID 1 dies with unshare, which itself dies with
		// this process (Pdeathsig), so an aborted run leaves no agents.
		"unshare", "--pid", "--fork", "--kill-child=SIGKILL", "--mount-proc", "--propagation", "private",
		n.lab.opts.Self}
	cmd := exec.Command("ip", append(args, spec.Argv...)...)
	env := []string{helperEnv + "=init", helperTmpfsEnv + "=" + strings.Join(n.lab.opts.Tmpfs, ":")}
	if !hasVar(spec.Env, "PATH") {
		env = append(env, defaultPath)
	}
	cmd.Env = append(env, spec.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: a terminal's ^C must not reach the node directly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	p := &initProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState
		fmt.Fprintf(logf, "=== lab: %s exit: %v\n", time.Now().Format(time.RFC3339Nano), p.state)
		logf.Close()
		close(p.done)
	}()
	// `ip netns exec` execs unshare in place, so cmd's PID is unshare's and
	// its only child is the node's PID 1.
	err = Poll(context.Background(), 5*time.Second, 5*time.Millisecond, func() error {
		if isDone(p.done) {
			return fmt.Errorf("exited early: %v", p.state)
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
		if err != nil {
			return err
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return errors.New("no child yet")
		}
		p.pid1, err = strconv.Atoi(f[0])
		return err
	})
	if err != nil {
		_ = cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("start %s: find PID 1: %w", n.Name, err)
	}
	n.spec, n.cur = spec, p
	n.lab.log.Info("node started", "node", n.Name, "pid1", p.pid1, "argv", spec.Argv)
	return nil
}

// Restart starts the node again with the Spec of the previous Start.
func (n *Node) Restart() error {
	n.mu.Lock()
	spec := n.spec
	n.mu.Unlock()
	return n.Start(spec)
}

func (n *Node) current() (*initProc, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cur == nil {
		return nil, fmt.Errorf("node %s: never started", n.Name)
	}
	return n.cur, nil
}

// Running reports whether the node's PID 1 is alive.
func (n *Node) Running() bool {
	p, err := n.current()
	return err == nil && !isDone(p.done)
}

// PID1 returns the host PID of the node's PID 1 (0 if never started).
func (n *Node) PID1() int {
	p, err := n.current()
	if err != nil {
		return 0
	}
	return p.pid1
}

// Signal sends sig to the node's PID 1.
func (n *Node) Signal(sig syscall.Signal) error {
	p, err := n.current()
	if err != nil {
		return err
	}
	if isDone(p.done) {
		return fmt.Errorf("signal %s: node %s is not running", sig, n.Name)
	}
	if err := syscall.Kill(p.pid1, sig); err != nil {
		return fmt.Errorf("signal %s to %s (PID %d): %w", sig, n.Name, p.pid1, err)
	}
	return nil
}

// Wait waits up to timeout for the node's PID 1 to exit and returns its exit
// code; a death by signal is an error naming the signal.
func (n *Node) Wait(timeout time.Duration) (int, error) {
	p, err := n.current()
	if err != nil {
		return 0, err
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		return 0, fmt.Errorf("node %s: still running after %v", n.Name, timeout)
	}
	// unshare re-raises a signal that killed its child, so a signal death
	// shows on unshare's own status; SIGKILL cannot be re-raised that way,
	// and unshare then exits 1 ("sigprocmask unblock failed").
	if ws, ok := p.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, fmt.Errorf("node %s: killed by %s", n.Name, ws.Signal())
	}
	return p.state.ExitCode(), nil
}

// Stop sends SIGTERM and waits up to grace for the exit; after that it sends
// SIGKILL and returns ErrKilled. Otherwise it returns the exit code.
func (n *Node) Stop(grace time.Duration) (int, error) {
	if err := n.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	code, err := n.Wait(grace)
	if !n.Running() {
		return code, err // exited, possibly by a signal
	}
	_ = n.Signal(syscall.SIGKILL)
	if _, err := n.Wait(5 * time.Second); err != nil && n.Running() {
		return 0, err
	}
	return 0, fmt.Errorf("stop %s: %w after %v", n.Name, ErrKilled, grace)
}

// Kill SIGKILLs the node's PID 1, which makes the kernel kill every process
// of the node's PID namespace: a container crash. Nothing gets to clean up,
// so VIPs stay configured on eth0.
func (n *Node) Kill() error {
	if err := n.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	// Any exit is fine here: see Wait for how unshare reports it.
	if _, err := n.Wait(5 * time.Second); n.Running() {
		return err
	}
	return nil
}

// Procs lists the processes of the node's PID namespace, PID 1 first.
func (n *Node) Procs() ([]Proc, error) {
	p, err := n.current()
	if err != nil {
		return nil, err
	}
	all, err := procfs.List("/proc")
	if err != nil {
		return nil, err
	}
	out := procfs.Tree(all, p.pid1)
	if len(out) == 0 {
		return nil, fmt.Errorf("node %s: PID 1 (host PID %d) is gone", n.Name, p.pid1)
	}
	return out, nil
}

// Zombies lists the node's processes that have exited but not been reaped.
func (n *Node) Zombies() ([]Proc, error) {
	ps, err := n.Procs()
	if err != nil {
		return nil, err
	}
	var out []Proc
	for _, p := range ps {
		if p.Zombie() {
			out = append(out, p)
		}
	}
	return out, nil
}

// Keepalived returns the node's running keepalived parent process: a
// keepalived whose parent is not keepalived and that has forked its VRRP
// child. Short-lived invocations (`keepalived -t`, `--signum`, `--version`)
// never fork a child, so they are not mistaken for the daemon.
func (n *Node) Keepalived() (Proc, error) {
	ps, err := n.Procs()
	if err != nil {
		return Proc{}, err
	}
	comm := map[int]string{}
	hasChild := map[int]bool{}
	for _, p := range ps {
		comm[p.PID] = p.Comm
		if p.Comm == "keepalived" && !p.Zombie() {
			hasChild[p.PPID] = true
		}
	}
	for _, p := range ps {
		if p.Comm == "keepalived" && !p.Zombie() && comm[p.PPID] != "keepalived" && hasChild[p.PID] {
			return p, nil
		}
	}
	return Proc{}, fmt.Errorf("node %s: no keepalived daemon with a VRRP child", n.Name)
}

// LinkDown detaches the node from the bridge: it keeps running and its eth0
// stays up, but nothing it sends arrives anywhere (a network partition).
func (n *Node) LinkDown(ctx context.Context) error {
	_, err := n.lab.run(ctx, "ip", "-n", n.lab.Switch, "link", "set", n.Peer, "nomaster")
	return err
}

// LinkUp reattaches the node to the bridge.
func (n *Node) LinkUp(ctx context.Context) error {
	_, err := n.lab.run(ctx, "ip", "-n", n.lab.Switch, "link", "set", n.Peer, "master", bridgeName)
	return err
}

// Exec runs a command in the node's network namespace (host PID and mount
// namespaces) and returns its combined output.
func (n *Node) Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	return n.lab.run(ctx, "ip", append([]string{"netns", "exec", n.NS, name}, args...)...)
}

// Addrs returns the addresses configured on the node's eth0.
func (n *Node) Addrs() ([]netip.Prefix, error) {
	var addrs []net.Addr
	err := inNetns(n.NS, func() error {
		ifc, err := net.InterfaceByName(Interface)
		if err != nil {
			return err
		}
		addrs, err = ifc.Addrs()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("addresses of %s: %w", n.Name, err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ones, _ := ipn.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, nil
}

// IPTables lists a filter-table chain in the node's namespace with
// iptables -S (cmd "iptables" or "ip6tables"): the chain policy ("" for a
// user chain) and the rules in order, each without its "-A CHAIN " prefix.
func (n *Node) IPTables(ctx context.Context, cmd, chain string) (policy string, rules []string, err error) {
	out, err := n.Exec(ctx, cmd, "-w", "5", "-S", chain)
	if err != nil {
		return "", nil, err
	}
	policy, rules = parseIPTablesS(string(out), chain)
	return policy, rules, nil
}

// parseIPTablesS parses `iptables -S CHAIN` output.
func parseIPTablesS(out, chain string) (policy string, rules []string) {
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "-P "+chain+" "):
			policy = strings.TrimPrefix(line, "-P "+chain+" ")
		case strings.HasPrefix(line, "-A "+chain+" "):
			rules = append(rules, strings.TrimPrefix(line, "-A "+chain+" "))
		}
	}
	return policy, rules
}

// StartService (re)starts the node's name service on the lab's service port.
func (n *Node) StartService() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.svc != nil {
		return nil
	}
	s, err := startService(n.NS, n.Name, n.lab.opts.ServicePort)
	if err != nil {
		return err
	}
	n.svc = s
	return nil
}

// StopService stops the node's name service, which makes the default TCP
// health check of the agent fail.
func (n *Node) StopService() {
	n.mu.Lock()
	s := n.svc
	n.svc = nil
	n.mu.Unlock()
	if s != nil {
		s.close()
	}
}

func isDone(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			return true
		}
	}
	return false
}

// FormatProcs renders processes compactly for logs and error messages.
func FormatProcs(ps []Proc) string {
	var b bytes.Buffer
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d(%s,%c,ppid %d)", p.PID, p.Comm, p.State, p.PPID)
	}
	return b.String()
}
