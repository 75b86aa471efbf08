package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Prefix starts the name of every namespace a lab creates; Down refuses any
// prefix that does not start with it.
const Prefix = "ipf-"

// Interface is the name of every endpoint's link inside its namespace.
const Interface = "eth0"

// bridgeName is the bridge inside the switch namespace.
const bridgeName = "br0"

// DefaultServicePort is the TCP port of the per-node name service.
const DefaultServicePort = 8080

// maxNodes keeps node addresses (.11...) clear of the client's .100.
const maxNodes = 9

// Runner runs a command and returns its combined output. Tests of the
// package's own logic inject a fake; the default runs the real command.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// ExecRunner is the default Runner. The error includes the command line and
// its output, which is where ip(8) and iptables(8) explain themselves.
func ExecRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// Options configure New.
type Options struct {
	Nodes       int          // node count, 1..9
	Dir         string       // where per-node logs go; required
	ServicePort int          // port of the per-node name service; 0 means DefaultServicePort
	Logger      *slog.Logger // lab operations; nil discards
	Runner      Runner       // nil means ExecRunner
	// Tmpfs lists the directories that get a private tmpfs in every node's
	// mount namespace; nil means /run and /etc/keepalived.
	Tmpfs []string
	// Self is the executable re-executed as the node-init helper; "" means
	// os.Executable(). It must call MaybeRunHelper first thing.
	Self string
}

// Endpoint is one namespace attached to the lab's bridge.
type Endpoint struct {
	Name string     // short name: "n1", "n2", ..., "c"
	NS   string     // network namespace, e.g. "ipf-1a2b-n1"
	Peer string     // the veth end on the bridge, inside the switch namespace
	IPv4 netip.Addr // 192.0.2.x on eth0 (a /24)
	IPv6 netip.Addr // 2001:db8::x on eth0 (a /64)
}

// Lab is one running testbed. Create it with New and always Close it.
type Lab struct {
	ID     string // random run id carried by every name
	Switch string // namespace holding the bridge
	Nodes  []*Node
	Client *Endpoint

	opts      Options
	log       *slog.Logger
	run       Runner
	closeOnce sync.Once
	closeErr  error
}

// New builds the topology, starts every node's name service and returns the
// lab. No node process runs yet: start them with Node.Start.
func New(ctx context.Context, opts Options) (l *Lab, err error) {
	if opts.Nodes < 1 || opts.Nodes > maxNodes {
		return nil, fmt.Errorf("lab: %d nodes requested, accepted 1-%d", opts.Nodes, maxNodes)
	}
	if opts.Dir == "" {
		return nil, errors.New("lab: Options.Dir is required")
	}
	if opts.ServicePort == 0 {
		opts.ServicePort = DefaultServicePort
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Runner == nil {
		opts.Runner = ExecRunner
	}
	if opts.Tmpfs == nil {
		opts.Tmpfs = []string{"/run", "/etc/keepalived"}
	}
	if opts.Self == "" {
		if opts.Self, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("lab: find own executable: %w", err)
		}
	}
	id, err := newID(ctx, opts.Runner)
	if err != nil {
		return nil, err
	}
	l = &Lab{ID: id, Switch: Prefix + id + "-sw", opts: opts, log: opts.Logger.With("lab", id), run: opts.Runner}
	for i := 1; i <= opts.Nodes; i++ {
		ep := l.endpoint("n"+strconv.Itoa(i), 10+i)
		l.Nodes = append(l.Nodes, &Node{Endpoint: ep, lab: l})
	}
	c := l.endpoint("c", 100)
	l.Client = &c
	defer func() {
		if err != nil {
			err = errors.Join(err, l.Close())
			l = nil
		}
	}()
	if err := l.build(ctx); err != nil {
		return l, fmt.Errorf("lab %s: %w", id, err)
	}
	for _, n := range l.Nodes {
		if err := n.StartService(); err != nil {
			return l, fmt.Errorf("lab %s: %w", id, err)
		}
	}
	l.log.Info("lab up", "nodes", opts.Nodes, "switch", l.Switch, "client", l.Client.NS)
	return l, nil
}

// newID picks a random 4-hex-digit run id not used by any namespace yet.
func newID(ctx context.Context, run Runner) (string, error) {
	existing, err := listNetns(ctx, run)
	if err != nil {
		return "", err
	}
	for range 100 {
		b := make([]byte, 2)
		_, _ = rand.Read(b) // never fails (crypto/rand)
		id := hex.EncodeToString(b)
		if !slices.ContainsFunc(existing, func(ns string) bool { return strings.HasPrefix(ns, Prefix+id+"-") }) {
			return id, nil
		}
	}
	return "", errors.New("lab: no free run id")
}

func (l *Lab) endpoint(name string, host int) Endpoint {
	ns := Prefix + l.ID + "-" + name
	return Endpoint{
		Name: name,
		NS:   ns,
		Peer: ns, // at most 15 bytes: "ipf-" + 4 + "-" + "n9"
		IPv4: netip.AddrFrom4([4]byte{192, 0, 2, byte(host)}),
		IPv6: netip.MustParseAddr("2001:db8::" + strconv.Itoa(host)),
	}
}

func (l *Lab) endpoints() []Endpoint {
	out := make([]Endpoint, 0, len(l.Nodes)+1)
	for _, n := range l.Nodes {
		out = append(out, n.Endpoint)
	}
	return append(out, *l.Client)
}

// build creates the namespaces, the bridge and the veth pairs.
func (l *Lab) build(ctx context.Context) error {
	eps := l.endpoints()
	var steps [][]string
	for _, ns := range append([]string{l.Switch}, nsNames(eps)...) {
		steps = append(steps,
			[]string{"ip", "netns", "add", ns},
			// DAD off before any link exists, so that link-local and
			// global IPv6 addresses are usable at once (keepalived sends
			// IPv6 adverts from the link-local address).
			[]string{"ip", "netns", "exec", ns, "sysctl", "-q", "-w",
				"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"},
			[]string{"ip", "-n", ns, "link", "set", "lo", "up"},
		)
	}
	// Snooping off: VRRPv3 over IPv6 uses the group ff02::12, which a
	// snooping bridge would only forward to ports it saw MLD reports on.
	steps = append(steps,
		[]string{"ip", "-n", l.Switch, "link", "add", bridgeName, "type", "bridge", "mcast_snooping", "0"},
		[]string{"ip", "-n", l.Switch, "link", "set", bridgeName, "up"},
	)
	for _, ep := range eps {
		steps = append(steps,
			[]string{"ip", "-n", ep.NS, "link", "add", Interface, "type", "veth", "peer", "name", ep.Peer, "netns", l.Switch},
			[]string{"ip", "-n", l.Switch, "link", "set", ep.Peer, "master", bridgeName, "up"},
			[]string{"ip", "-n", ep.NS, "addr", "add", ep.IPv4.String() + "/24", "dev", Interface},
			[]string{"ip", "-n", ep.NS, "addr", "add", ep.IPv6.String() + "/64", "dev", Interface, "nodad"},
			[]string{"ip", "-n", ep.NS, "link", "set", Interface, "up"},
		)
	}
	for _, s := range steps {
		if _, err := l.run(ctx, s[0], s[1:]...); err != nil {
			return err
		}
	}
	return nil
}

func nsNames(eps []Endpoint) []string {
	out := make([]string, len(eps))
	for i, ep := range eps {
		out[i] = ep.NS
	}
	return out
}

// Node returns the node with the given short name ("n1") or nil.
func (l *Lab) Node(name string) *Node {
	for _, n := range l.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Close stops every node process (SIGTERM, then SIGKILL after a grace
// period), stops the name services and removes every namespace of the lab.
// It is safe to call more than once.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		var wg sync.WaitGroup
		errs := make([]error, len(l.Nodes))
		for i, n := range l.Nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n.StopService()
				if n.Running() {
					if _, err := n.Stop(3 * time.Second); err != nil && !errors.Is(err, ErrKilled) {
						errs[i] = err
					}
				}
			}()
		}
		wg.Wait()
		// Use a fresh context: Close must work after the caller's ended.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := down(ctx, l.run, Prefix+l.ID+"-")
		l.closeErr = errors.Join(append(errs, err)...)
		l.log.Info("lab down", "err", l.closeErr)
	})
	return l.closeErr
}

// Down removes every namespace whose name starts with prefix, after killing
// the processes in it, and returns the names it removed. prefix must start
// with Prefix ("ipf-"); Down(ctx, Prefix) clears every lab on the host, which
// is what `make lab-down` does after a crashed run.
func Down(ctx context.Context, prefix string) ([]string, error) {
	return down(ctx, ExecRunner, prefix)
}

func down(ctx context.Context, run Runner, prefix string) ([]string, error) {
	if !strings.HasPrefix(prefix, Prefix) {
		return nil, fmt.Errorf("lab down: prefix %q does not start with %q", prefix, Prefix)
	}
	all, err := listNetns(ctx, run)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, ns := range all {
		if !strings.HasPrefix(ns, prefix) {
			continue
		}
		if err := killNetnsProcs(ctx, run, ns); err != nil {
			errs = append(errs, err)
		}
		if _, err := run(ctx, "ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, ns)
	}
	return removed, errors.Join(errs...)
}

// killNetnsProcs SIGKILLs every process in the namespace and waits until
// none is left. Our own process is skipped: while one of its threads is
// inside the namespace (see inNetns), ip may list it.
func killNetnsProcs(ctx context.Context, run Runner, ns string) error {
	pids := func() ([]int, error) {
		out, err := run(ctx, "ip", "netns", "pids", ns)
		if err != nil {
			return nil, err
		}
		var ps []int
		for _, f := range strings.Fields(string(out)) {
			if p, err := strconv.Atoi(f); err == nil && p != os.Getpid() {
				ps = append(ps, p)
			}
		}
		return ps, nil
	}
	return Poll(ctx, 5*time.Second, 50*time.Millisecond, func() error {
		ps, err := pids()
		if err != nil {
			return err
		}
		for _, p := range ps {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		if len(ps) > 0 {
			return fmt.Errorf("processes left in %s: %v", ns, ps)
		}
		return nil
	})
}

// listNetns returns the names of the named network namespaces.
func listNetns(ctx context.Context, run Runner) ([]string, error) {
	out, err := run(ctx, "ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	return parseNetnsList(string(out)), nil
}

// parseNetnsList parses `ip netns list`: one namespace per line, optionally
// followed by " (id: N)".
func parseNetnsList(out string) []string {
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}
