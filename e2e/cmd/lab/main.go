// Command lab is the live demo behind `make lab`: three nodes and a client
// in network namespaces (package e2e/lab), `ipfailover run` on every node
// with a few VIPs, and a refreshing table of where each VIP is, each node's
// VRRP state per VIP and what the client gets, plus single keys that fail
// and restore links, services and agents.
//
// Usage (root):
//
//	lab [--agent bin/ipfailover] [--vips 192.0.2.200-205] [--advert 1]
//	lab --once [--duration 60s]   # non-interactive: wait until every VIP is served, exit 0
//	lab --down [--id ID]          # remove labs left by a crash (every ipf- lab without --id)
//
// Without a terminal on stdin it runs non-interactively: it prints the
// table every few seconds and exits when every VIP is served (with --once)
// or when --duration has passed, 0 if every VIP was served.
//
// Everything it creates carries the lab's run id; it is removed on exit
// (x, Ctrl-C, SIGTERM). After a crash, `make lab-down` removes it: each run
// records itself in /run/ipfailover-lab/ID so that lab-down can also stop a
// hung lab process.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ipfailover/ipfailover/e2e/lab"
	"github.com/ipfailover/ipfailover/env"
	"golang.org/x/sys/unix"
)

// stateDir records running labs (one file per run id holding the lab
// process's PID) for `lab --down`.
const stateDir = "/run/ipfailover-lab"

func main() {
	lab.MaybeRunHelper()
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

type options struct {
	agent    string
	vips     string
	nodes    int
	advert   string
	check    int
	once     bool
	duration time.Duration
	every    time.Duration
	down     bool
	id       string
	keepLogs bool
}

func run(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.agent, "agent", "bin/ipfailover", "the ipfailover binary every node runs (`make build` makes it)")
	fs.StringVar(&o.vips, "vips", "192.0.2.200-205", "OPENSHIFT_HA_VIRTUAL_IPS of the lab (IPv4, in 192.0.2.0/24)")
	fs.IntVar(&o.nodes, "nodes", 3, "number of nodes, 1-3 (keys address nodes 1-3)")
	fs.StringVar(&o.advert, "advert", "1", "OPENSHIFT_HA_ADVERT_INTERVAL in seconds; 0.1 shows sub-second failover")
	fs.IntVar(&o.check, "check-interval", 1, "OPENSHIFT_HA_CHECK_INTERVAL in seconds")
	fs.BoolVar(&o.once, "once", false, "non-interactive: exit 0 as soon as every VIP is served")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "non-interactive: give up (exit 1) if not every VIP is served by then")
	fs.DurationVar(&o.every, "every", 2*time.Second, "non-interactive: print the table this often")
	fs.BoolVar(&o.down, "down", false, "remove labs left behind (every ipf- lab, or only --id)")
	fs.StringVar(&o.id, "id", "", "with --down: the run id of the lab to remove")
	fs.BoolVar(&o.keepLogs, "keep-logs", false, "keep the node logs directory on exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "lab: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if o.down {
		if err := down(o.id, stdout); err != nil {
			fmt.Fprintf(stderr, "lab --down: %v\n", err)
			return 1
		}
		return 0
	}
	if o.nodes < 1 || o.nodes > 3 {
		fmt.Fprintf(stderr, "lab: --nodes %d: accepted 1-3\n", o.nodes)
		return 2
	}
	interactive := !o.once && isTerminal(stdin)
	if err := lab.Preflight(); err != nil {
		fmt.Fprintf(stderr, "lab: cannot run here: %v\n(run as root; `make lab` installs the packages with apt-get)\n", err)
		return 1
	}
	agent, err := filepath.Abs(o.agent)
	if err == nil {
		_, err = os.Stat(agent)
	}
	if err != nil {
		fmt.Fprintf(stderr, "lab: --agent %s: %v (run `make build` first)\n", o.agent, err)
		return 1
	}
	o.agent = agent
	vips, err := parseVIPs(o.vips)
	if err != nil {
		fmt.Fprintf(stderr, "lab: --vips %q: %v\n", o.vips, err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	d, err := start(ctx, o, vips, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "lab: %v\n", err)
		return 1
	}
	var code int
	func() {
		// Whatever happens below, the lab goes away.
		defer func() {
			if r := recover(); r != nil {
				d.close(stdout)
				panic(r)
			}
		}()
		if interactive {
			code = d.interactive(ctx, stdin, stdout)
		} else {
			code = d.batch(ctx, o, stdout)
		}
	}()
	d.close(stdout)
	return code
}

// parseVIPs reads a VIP list with the agent's own parser (env.ParseVIPs)
// and keeps what the lab can show: 1-20 IPv4 addresses.
func parseVIPs(s string) ([]netip.Addr, error) {
	vips, err := env.ParseVIPs(s)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(vips))
	for _, v := range vips {
		if !v.Addr().Is4() {
			return nil, fmt.Errorf("%s: the lab shows IPv4 VIPs only", v.Addr())
		}
		out = append(out, v.Addr())
	}
	if len(out) == 0 || len(out) > 20 {
		return nil, fmt.Errorf("%d VIPs: accepted 1-20", len(out))
	}
	return out, nil
}

// demo is one running lab with its observers.
type demo struct {
	l       *lab.Lab
	vips    []netip.Addr
	logDir  string
	keep    bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stateFn string

	mu      sync.Mutex
	nodes   map[string]*nodeState
	clients map[netip.Addr]*clientState
	vrids   map[netip.Addr]int
	holders lab.Holding
	events  []string
}

type nodeState struct {
	linkUp  bool
	agent   string // running, stopping, stopped, starting
	states  map[netip.Addr]string
	err     string
	running bool
}

type clientState struct {
	track lab.ClientTrack
	node  string
	err   string
}

const maxEvents = 10

// start builds the lab, starts the agents and the observers.
func start(ctx context.Context, o options, vips []netip.Addr, stdout io.Writer) (*demo, error) {
	logDir, err := os.MkdirTemp("", "ipfailover-lab-")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "building the lab: %d nodes and a client in network namespaces...\n", o.nodes)
	l, err := lab.New(ctx, lab.Options{Nodes: o.nodes, Dir: logDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		os.RemoveAll(logDir)
		return nil, err
	}
	d := &demo{l: l, vips: vips, logDir: logDir, keep: o.keepLogs,
		nodes: map[string]*nodeState{}, clients: map[netip.Addr]*clientState{}, vrids: map[netip.Addr]int{}}
	if err := os.MkdirAll(stateDir, 0o755); err == nil {
		d.stateFn = filepath.Join(stateDir, l.ID)
		_ = os.WriteFile(d.stateFn, []byte(fmt.Sprintf("%d %s\n", os.Getpid(), logDir)), 0o644)
	}
	fmt.Fprintf(stdout, "lab %s%s- up; node logs in %s\n", lab.Prefix, l.ID, logDir)
	env := []string{
		"OPENSHIFT_HA_CONFIG_NAME=lab",
		"OPENSHIFT_HA_VIRTUAL_IPS=" + o.vips,
		"OPENSHIFT_HA_NETWORK_INTERFACE=" + lab.Interface,
		"OPENSHIFT_HA_MONITOR_PORT=" + strconv.Itoa(lab.DefaultServicePort),
		"OPENSHIFT_HA_REPLICA_COUNT=" + strconv.Itoa(o.nodes),
		"OPENSHIFT_HA_PREEMPTION=preempt_delay 0",
		"OPENSHIFT_HA_CHECK_INTERVAL=" + strconv.Itoa(o.check),
		"OPENSHIFT_HA_ADVERT_INTERVAL=" + o.advert,
	}
	for _, n := range l.Nodes {
		d.nodes[n.Name] = &nodeState{linkUp: true, agent: "starting"}
		if err := n.Start(lab.Spec{Argv: []string{o.agent, "run"}, Env: env}); err != nil {
			d.close(stdout)
			return nil, err
		}
	}
	for i, v := range vips {
		d.clients[v] = &clientState{track: lab.ClientTrack{VIP: v}, err: "not probed yet"}
		d.vrids[v] = 10 + i + 1 // the default VRRP ID offset, one VIP per group
	}
	fmt.Fprintf(stdout, "agents started: VIPs %s, advert %s s, check every %d s, preempt_delay 0\n", o.vips, o.advert, o.check)
	octx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	for _, v := range vips {
		d.wg.Add(1)
		go d.probeLoop(octx, v)
	}
	d.wg.Add(1)
	go d.pollLoop(octx)
	return d, nil
}

// close stops the observers and removes the lab.
func (d *demo) close(stdout io.Writer) {
	if d.cancel != nil {
		d.cancel()
		d.wg.Wait()
		d.cancel = nil
	}
	fmt.Fprintf(stdout, "removing lab %s%s- (stopping the agents)...\n", lab.Prefix, d.l.ID)
	if err := d.l.Close(); err != nil {
		fmt.Fprintf(stdout, "lab cleanup: %v\n(run `make lab-down` to finish it)\n", err)
		return
	}
	if d.stateFn != "" {
		os.Remove(d.stateFn)
	}
	if !d.keep {
		os.RemoveAll(d.logDir)
	} else {
		fmt.Fprintf(stdout, "node logs kept in %s\n", d.logDir)
	}
	fmt.Fprintln(stdout, "lab removed")
}

// probeLoop probes one VIP from the client every 50 ms.
func (d *demo) probeLoop(ctx context.Context, v netip.Addr) {
	defer d.wg.Done()
	target := netip.AddrPortFrom(v, lab.DefaultServicePort)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		at := time.Now()
		node, err := d.l.Probe(ctx, target, 100*time.Millisecond)
		if ctx.Err() != nil {
			return
		}
		d.mu.Lock()
		c := d.clients[v]
		if ev := c.track.Observe(at, node, err); ev != "" {
			d.logLocked(ev)
		}
		c.node, c.err = node, ""
		if err != nil {
			c.err = err.Error()
		}
		d.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// pollLoop reads the kernel's VIP placement and every agent's /status.
func (d *demo) pollLoop(ctx context.Context) {
	defer d.wg.Done()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		h, herr := d.l.Holders(d.vips)
		type result struct {
			name    string
			states  map[netip.Addr]string
			vrids   map[netip.Addr]int
			err     string
			running bool
		}
		results := make([]result, len(d.l.Nodes))
		var wg sync.WaitGroup
		for i, n := range d.l.Nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := result{name: n.Name, running: n.Running()}
				if !r.running {
					results[i] = r
					return
				}
				st, err := n.Status(ctx, lab.StatusPort, 500*time.Millisecond)
				if err != nil {
					r.err = err.Error()
					results[i] = r
					return
				}
				r.states, r.vrids = map[netip.Addr]string{}, map[netip.Addr]int{}
				for _, v := range d.vips {
					if in, ok := lab.InstanceFor(st, v.String()); ok {
						r.states[v] = fmt.Sprintf("%s %d", in.State, in.Priority)
						r.vrids[v] = in.VRID
					}
				}
				if !st.Keepalived.Running {
					r.err = "keepalived not running " + st.Keepalived.Problem
				}
				results[i] = r
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		d.mu.Lock()
		if herr == nil {
			d.holders = h
		}
		for _, r := range results {
			ns := d.nodes[r.name]
			for _, ev := range lab.StateChanges(now, r.name, ns.states, r.states) {
				d.logLocked(ev)
			}
			ns.states, ns.err, ns.running = r.states, r.err, r.running
			if ns.agent != "stopping" {
				ns.agent = map[bool]string{true: "running", false: "stopped"}[r.running]
			}
			for v, id := range r.vrids {
				d.vrids[v] = id
			}
		}
		d.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// logLocked appends an event; d.mu must be held.
func (d *demo) logLocked(ev string) {
	d.events = append(d.events, ev)
	if len(d.events) > maxEvents {
		d.events = d.events[len(d.events)-maxEvents:]
	}
}

func (d *demo) log(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.logLocked(lab.Stamp(time.Now()) + " " + fmt.Sprintf(format, args...))
}

// view is the current screen.
func (d *demo) view(color bool, help []string) lab.LabView {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := lab.LabView{
		Title: fmt.Sprintf("ipfailover lab %s%s-: %d nodes, %d VIPs", lab.Prefix, d.l.ID, len(d.l.Nodes), len(d.vips)),
		Now:   time.Now(), Color: color, Help: help,
		Events: append([]string(nil), d.events...),
	}
	for _, n := range d.l.Nodes {
		ns := d.nodes[n.Name]
		v.Nodes = append(v.Nodes, lab.NodeView{Name: n.Name, Addr: n.IPv4, LinkUp: ns.linkUp,
			Service: n.ServiceUp(), Agent: ns.agent, States: ns.states, Err: ns.err})
	}
	for _, vip := range d.vips {
		c := d.clients[vip]
		v.VIPs = append(v.VIPs, lab.VIPView{VIP: vip, VRID: d.vrids[vip], Holders: d.holders[vip], Client: c.node, ClientE: c.err})
	}
	return v
}

// act runs the action of one key; slow ones (agent stop) in the background.
func (d *demo) act(ctx context.Context, key byte) {
	const keys = "123qweasd"
	i := strings.IndexByte(keys, key)
	if i < 0 {
		return
	}
	idx := i % 3
	if idx >= len(d.l.Nodes) {
		return
	}
	n := d.l.Nodes[idx]
	d.mu.Lock()
	ns := d.nodes[n.Name]
	d.mu.Unlock()
	switch i / 3 {
	case 0: // link
		d.mu.Lock()
		up := ns.linkUp
		d.mu.Unlock()
		var err error
		if up {
			err = n.LinkDown(ctx)
		} else {
			err = n.LinkUp(ctx)
		}
		if err != nil {
			d.log("%s: %v", n.Name, err)
			return
		}
		d.mu.Lock()
		ns.linkUp = !up
		d.mu.Unlock()
		d.log("key %c: %s link %s", key, n.Name, map[bool]string{true: "DOWN (node cut off)", false: "up again"}[up])
	case 1: // service
		if n.ServiceUp() {
			n.StopService()
			d.log("key %c: %s service stopped (its TCP health check fails next)", key, n.Name)
		} else {
			if err := n.StartService(); err != nil {
				d.log("%s: %v", n.Name, err)
				return
			}
			d.log("key %c: %s service started", key, n.Name)
		}
	case 2: // agent
		if n.Running() {
			d.mu.Lock()
			if ns.agent == "stopping" {
				d.mu.Unlock()
				return
			}
			ns.agent = "stopping"
			d.mu.Unlock()
			d.log("key %c: SIGTERM to the agent on %s", key, n.Name)
			go func() {
				code, err := n.Stop(5 * time.Second)
				d.mu.Lock()
				ns.agent = "stopped"
				d.mu.Unlock()
				if err != nil {
					d.log("%s: agent stop: %v", n.Name, err)
				} else {
					d.log("%s: agent exited with code %d", n.Name, code)
				}
			}()
		} else {
			d.mu.Lock()
			if ns.agent == "stopping" {
				d.mu.Unlock()
				return
			}
			ns.agent = "starting"
			d.mu.Unlock()
			if err := n.Restart(); err != nil {
				d.log("%s: agent start: %v", n.Name, err)
				return
			}
			d.log("key %c: agent on %s started again", key, n.Name)
		}
	}
}

var helpLines = []string{
	"keys: 1 2 3  cut / restore the link of node 1 2 3      q w e  stop / start its service (health check fails)",
	"      a s d  stop (SIGTERM) / start its agent           x or Ctrl-C  quit and remove the lab",
}

// interactive runs the full-screen view until x, Ctrl-C or a signal.
func (d *demo) interactive(ctx context.Context, stdin *os.File, stdout io.Writer) int {
	restore, err := rawMode(int(stdin.Fd()))
	if err != nil {
		fmt.Fprintf(stdout, "lab: terminal: %v\n", err)
		return 1
	}
	defer restore()
	// Alternate screen, hidden cursor; undone before restore's output.
	fmt.Fprint(stdout, "\x1b[?1049h\x1b[?25l")
	defer fmt.Fprint(stdout, "\x1b[?25h\x1b[?1049l")

	keys := make(chan byte)
	go func() {
		b := make([]byte, 1)
		for {
			n, err := stdin.Read(b)
			if err != nil {
				close(keys)
				return
			}
			if n == 1 {
				keys <- b[0]
			}
		}
	}()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	draw := func() {
		// Home, draw, clear what is left of the previous frame. Raw
		// mode keeps output processing, so "\n" still returns the carriage.
		fmt.Fprint(stdout, "\x1b[H"+strings.ReplaceAll(d.view(true, helpLines).Render(), "\n", "\x1b[K\n")+"\x1b[J")
	}
	draw()
	for {
		select {
		case <-ctx.Done():
			return 0
		case k, ok := <-keys:
			if !ok || k == 'x' || k == 'X' || k == 3 { // 3: Ctrl-C (ISIG is off)
				return 0
			}
			d.act(ctx, k)
			draw()
		case <-tick.C:
			draw()
		}
	}
}

// batch prints the table every o.every until every VIP is served (with
// --once) or o.duration passes.
func (d *demo) batch(ctx context.Context, o options, stdout io.Writer) int {
	deadline := time.NewTimer(o.duration)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	// Served must hold for a second: right after the election a VIP can
	// still be about to move to its preferred node.
	var served bool
	var since, lastPrint time.Time
	for {
		v := d.view(false, nil)
		ok, why := v.Served()
		switch {
		case !ok:
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
			ok = false
		default:
			ok = time.Since(since) >= time.Second
		}
		if time.Since(lastPrint) >= o.every || (ok && !served) {
			fmt.Fprintln(stdout, "----")
			fmt.Fprint(stdout, v.Render())
			lastPrint = time.Now()
		}
		if ok && !served {
			served = true
			fmt.Fprintf(stdout, "every VIP is served: %d of %d, each by exactly one node that answers the client\n", len(v.VIPs), len(v.VIPs))
			if o.once {
				return 0
			}
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "interrupted")
			return 130
		case <-deadline.C:
			if served {
				return 0
			}
			fmt.Fprintf(stdout, "not every VIP was served after %v: %s\n", o.duration, why)
			return 1
		case <-tick.C:
		}
	}
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// rawMode switches the terminal to single-key input without echo and
// without signal keys (Ctrl-C arrives as byte 3, so only this program
// sees it, not `make` or `go run` around it), and returns the restore.
func rawMode(fd int) (func(), error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("read terminal mode: %w", err)
	}
	t := *old
	t.Lflag &^= unix.ICANON | unix.ECHO | unix.ISIG | unix.IEXTEN
	t.Iflag &^= unix.IXON | unix.ICRNL
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return nil, fmt.Errorf("set terminal mode: %w", err)
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

// down removes the lab with run id id, or every ipf- lab when id is "":
// it stops lab processes recorded in stateDir, then removes the namespaces
// (killing what runs in them) and the recorded log directories.
func down(id string, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	entries, _ := os.ReadDir(stateDir)
	for _, e := range entries {
		if id != "" && e.Name() != id {
			continue
		}
		fn := filepath.Join(stateDir, e.Name())
		b, err := os.ReadFile(fn)
		if err != nil {
			continue
		}
		var pid int
		var logDir string
		fmt.Sscanf(string(b), "%d %s", &pid, &logDir)
		if pid > 1 && isLabProcess(pid) {
			fmt.Fprintf(stdout, "stopping lab process %d (lab %s)\n", pid, e.Name())
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if strings.HasPrefix(logDir, os.TempDir()+"/ipfailover-lab-") {
			os.RemoveAll(logDir)
		}
		os.Remove(fn)
	}
	prefix := lab.Prefix
	if id != "" {
		prefix += id + "-"
	}
	removed, err := lab.Down(ctx, prefix)
	for _, ns := range removed {
		fmt.Fprintf(stdout, "removed namespace %s\n", ns)
	}
	if err != nil {
		return err
	}
	if len(removed) == 0 {
		fmt.Fprintf(stdout, "no %s* namespace left\n", prefix)
	}
	return nil
}

// isLabProcess guards against a recycled PID: the process must still be
// a lab program (its command line mentions "lab").
func isLabProcess(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	argv0, _, _ := strings.Cut(string(b), "\x00")
	return strings.Contains(filepath.Base(argv0), "lab")
}
