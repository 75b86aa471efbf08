package imagetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/manifests"
)

const (
	vip       = "192.0.2.100"
	checkPath = "/usr/local/bin/imagetest-check"
	// unhealthyFile, when present in a node's root, fails its check.
	unhealthyFile = "/run/imagetest-unhealthy"
	// checkScript is installed into each node's root. /bin/sh is part of
	// every Debian base; the agent itself needs no shell.
	checkScript = "#!/bin/sh\n# Healthy unless the image test created " + unhealthyFile + ".\n[ ! -e " + unhealthyFile + " ]\n"
)

// capBits maps the capability names the manifests grant to their numbers.
var capBits = map[string]uint{"NET_ADMIN": 12, "NET_RAW": 13}

// TestImageFailover builds the image and shows a VIP failing over between
// two nodes running it.
func TestImageFailover(t *testing.T) {
	skipUnlessPossible(t)
	start := time.Now()
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	work := workDir(t)
	ctx := t.Context()

	// 1. The binary, built on the host exactly as `make build` does.
	buildCtx := filepath.Join(work, "context")
	mustRun(t, ctx, nil, "cp", filepath.Join(repo, "Dockerfile"), filepath.Join(repo, ".dockerignore"), mkdir(t, buildCtx))
	bin := filepath.Join(mkdir(t, filepath.Join(buildCtx, "bin")), "ipfailover")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=imagetest", "-o", bin, ".")
	build.Dir, build.Env = repo, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("binary built (%s)", since(start))

	// 2. The base image, made locally: no registry is needed.
	rootfs := filepath.Join(work, "debootstrap")
	mirror := debianMirror()
	args := []string{"--variant=minbase", "bookworm", rootfs}
	if mirror != "" {
		args = append(args, mirror)
	}
	cmd := "debootstrap"
	if _, err := exec.LookPath("eatmydata"); err == nil {
		// dpkg's fsyncs make debootstrap take minutes on slow disks.
		cmd, args = "eatmydata", append([]string{"debootstrap"}, args...)
	}
	mustRun(t, ctx, nil, cmd, args...)
	t.Logf("debootstrap from %s done (%s)", mirror, since(start))

	pm := newPodman(t, work)
	base, image := "localhost/ipfailover-imagetest-base:"+pm.tag, "localhost/ipfailover-imagetest:"+pm.tag
	pm.importDir(ctx, rootfs, base)
	mustRun(t, ctx, nil, "rm", "-rf", rootfs)
	pm.run(ctx, "build", "--isolation=chroot", "--network=host", "--pull=never",
		"--build-arg", "BINARY_SOURCE=prebuilt", "--build-arg", "BASE_IMAGE="+base, "--build-arg", "VERSION=imagetest",
		"-t", image, buildCtx)
	t.Logf("image built (%s)", since(start))
	for _, label := range []string{"org.opencontainers.image.title", "org.opencontainers.image.version"} {
		if v := pm.output(ctx, "image", "inspect", "--format", "{{ index .Labels \""+label+"\" }}", image); v == "" || v == "<no value>" {
			t.Errorf("image has no %s label", label)
		}
	}
	if ep := pm.output(ctx, "image", "inspect", "--format", "{{ json .Config.Entrypoint }}", image); ep != `["/usr/local/bin/ipfailover"]` {
		t.Errorf("entrypoint = %s, want [\"/usr/local/bin/ipfailover\"]", ep)
	}

	// 3. The image's filesystem, once per node (`podman run` cannot set
	// rlimits on these machines).
	tarball := filepath.Join(work, "image.tar")
	id := pm.output(ctx, "create", "--network=none", image)
	pm.run(ctx, "export", "-o", tarball, id)
	pm.run(ctx, "rm", id)

	net := newNetwork(t, ctx)
	nodes := make([]*node, 2)
	for i := range nodes {
		n := &node{name: fmt.Sprintf("node%d", i+1), addr: fmt.Sprintf("192.0.2.%d", 11+i), root: mkdir(t, filepath.Join(work, fmt.Sprintf("root%d", i+1)))}
		mustRun(t, ctx, nil, "tar", "-C", n.root, "-xf", tarball)
		if err := os.WriteFile(filepath.Join(n.root, checkPath), []byte(checkScript), 0o755); err != nil {
			t.Fatal(err)
		}
		n.netns = net.addNode(ctx, n.name, n.addr)
		nodes[i] = n
	}
	mustRun(t, ctx, nil, "rm", "-f", tarball)
	for _, n := range nodes {
		n.start(t, filepath.Join(work, n.name+".log"))
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				t.Logf("--- %s log (tail):\n%s", n.name, tail(n.logPath, 60))
			}
		}
	})
	for _, n := range nodes {
		n.checkCapabilities(t)
	}
	if out, err := exec.CommandContext(ctx, "ip", "netns", "exec", nodes[0].netns, "iptables", "-S", "INPUT").CombinedOutput(); err != nil {
		t.Logf("skipping the multicast rule check: iptables: %v %s", err, out)
	} else if !strings.Contains(string(out), "224.0.0.18") {
		t.Errorf("no VRRP multicast accept rule in the node's INPUT chain:\n%s", out)
	}

	// 4. One master; a failed check moves the VIP; SIGTERM moves it back.
	first := waitHolder(t, ctx, nodes, nil, 90*time.Second)
	t.Logf("%s holds %s (%s)", first.name, vip, since(start))
	other := nodes[0]
	if other == first {
		other = nodes[1]
	}

	mark := first.logSize()
	if err := os.WriteFile(filepath.Join(first.root, unhealthyFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	waitHolder(t, ctx, nodes, other, 30*time.Second)
	t.Logf("check failed on %s: VIP moved to %s in %s", first.name, other.name, since(t0))
	if err := os.Remove(filepath.Join(first.root, unhealthyFile)); err != nil {
		t.Fatal(err)
	}
	// Recovered: BACKUP again, eligible for the next failover. Preemption
	// (preempt_delay 300) keeps the VIP where it is meanwhile.
	first.waitLog(t, mark, "Entering BACKUP STATE", 30*time.Second)

	t0 = time.Now()
	other.stop(t, syscall.SIGTERM)
	waitHolder(t, ctx, nodes, first, 30*time.Second)
	t.Logf("SIGTERM to %s: VIP moved to %s in %s", other.name, first.name, since(t0))
	if code := other.wait(t, 30*time.Second); code != 0 {
		t.Errorf("%s exited with %d after SIGTERM, want 0", other.name, code)
	}
	if holds(t, ctx, other) {
		t.Errorf("%s still holds %s after stopping", other.name, vip)
	}
	t.Logf("image test done in %s", since(start))
}

// skipUnlessPossible skips (or, under CI, fails) when the test cannot run.
func skipUnlessPossible(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("image test skipped with -short")
	}
	if os.Getenv("IPFAILOVER_IMAGE_TEST") == "0" {
		t.Skip("image test disabled by IPFAILOVER_IMAGE_TEST=0")
	}
	if os.Geteuid() != 0 {
		t.Skip("image test needs root (network namespaces, chroot, podman storage)")
	}
	var missing []string
	for _, tool := range []string{"podman", "debootstrap", "setpriv", "unshare", "ip", "tar", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("image test needs %s (Debian packages: podman debootstrap util-linux iproute2 tar; eatmydata makes debootstrap fast)", strings.Join(missing, ", "))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// workDir is a private directory removed at the end, after anything
// mounted below it (debootstrap's /proc, podman's overlays) is unmounted.
func workDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ipf-img-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unmountBelow(t, dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}

// unmountBelow lazily unmounts every mount point under dir, deepest first.
func unmountBelow(t *testing.T, dir string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Logf("read mountinfo: %v", err)
		return
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		if err := syscall.Unmount(points[i], syscall.MNT_DETACH); err != nil {
			t.Logf("unmount %s: %v", points[i], err)
		}
	}
}

// debianMirror is the Debian archive apt is configured with here, so the
// test reaches the same mirror; IPFAILOVER_DEBIAN_MIRROR overrides it. ""
// leaves the choice to debootstrap.
func debianMirror() string {
	if m := os.Getenv("IPFAILOVER_DEBIAN_MIRROR"); m != "" {
		return m
	}
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	files = append(files, "/etc/apt/sources.list")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			fields := strings.Fields(line)
			var uri string
			switch {
			case len(fields) >= 2 && fields[0] == "URIs:":
				uri = fields[1]
			case len(fields) >= 3 && fields[0] == "deb" && !strings.HasPrefix(fields[1], "["):
				uri = fields[1]
			}
			if uri != "" && strings.HasSuffix(strings.TrimSuffix(uri, "/"), "/debian") {
				return uri
			}
		}
	}
	return "" // debootstrap's own default
}

// podman runs podman against a storage of its own inside the work
// directory, so nothing is left in /var/lib/containers.
type podman struct {
	t      *testing.T
	global []string
	env    []string
	tag    string
}

func newPodman(t *testing.T, work string) *podman {
	// Short names: podman refuses a runroot path longer than 50 bytes.
	dir := mkdir(t, filepath.Join(work, "p"))
	p := &podman{
		t: t,
		global: []string{
			"--root", mkdir(t, filepath.Join(dir, "root")),
			"--runroot", mkdir(t, filepath.Join(dir, "rr")),
			"--tmpdir", mkdir(t, filepath.Join(dir, "libpod")),
			"--storage-driver", "overlay",
			"--cgroup-manager", "cgroupfs",
			"--events-backend", "none",
		},
		env: append(os.Environ(), "TMPDIR="+mkdir(t, filepath.Join(dir, "tmp"))),
		tag: randomSuffix(t),
	}
	t.Cleanup(func() {
		// Removes every image and container of this private storage and
		// unmounts its layers before the directory goes.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c := exec.CommandContext(ctx, "podman", append(p.global, "system", "reset", "--force")...)
		c.Env = p.env
		if out, err := c.CombinedOutput(); err != nil {
			t.Logf("podman system reset: %v\n%s", err, out)
		}
	})
	return p
}

func (p *podman) run(ctx context.Context, args ...string) {
	p.t.Helper()
	mustRun(p.t, ctx, p.env, "podman", append(append([]string{}, p.global...), args...)...)
}

func (p *podman) output(ctx context.Context, args ...string) string {
	p.t.Helper()
	c := exec.CommandContext(ctx, "podman", append(append([]string{}, p.global...), args...)...)
	c.Env = p.env
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// importDir imports a directory tree as an image (`tar -C dir -c . |
// podman import - name`).
func (p *podman) importDir(ctx context.Context, dir, name string) {
	p.t.Helper()
	// An os.Pipe whose ends the test closes once both commands hold them:
	// if podman dies, tar gets EPIPE instead of blocking forever.
	r, w, err := os.Pipe()
	if err != nil {
		p.t.Fatal(err)
	}
	tarCmd := exec.CommandContext(ctx, "tar", "-C", dir, "-c", ".")
	imp := exec.CommandContext(ctx, "podman", append(append([]string{}, p.global...), "import", "-", name)...)
	imp.Env = p.env
	var impOut, tarErr bytes.Buffer
	tarCmd.Stdout, tarCmd.Stderr = w, &tarErr
	imp.Stdin, imp.Stdout, imp.Stderr = r, &impOut, &impOut
	tarStartErr := tarCmd.Start()
	impStartErr := imp.Start()
	r.Close()
	w.Close()
	if tarStartErr != nil || impStartErr != nil {
		p.t.Fatalf("start tar | podman import: %v", errors.Join(tarStartErr, impStartErr))
	}
	impErr := imp.Wait()
	tarErr2 := tarCmd.Wait()
	if impErr != nil {
		p.t.Fatalf("podman import: %v\n%s", impErr, impOut.String())
	}
	if tarErr2 != nil {
		p.t.Fatalf("tar %s: %v\n%s", dir, tarErr2, tarErr.String())
	}
}

// network is a switch namespace with a bridge and one namespace per node,
// each linked to the bridge by a veth pair. Nothing is created in the
// host's own namespace.
type network struct {
	t      *testing.T
	prefix string
	sw     string
}

func newNetwork(t *testing.T, ctx context.Context) *network {
	n := &network{t: t, prefix: "ipft" + randomSuffix(t)}
	n.sw = n.prefix + "-sw"
	n.addNS(ctx, n.sw)
	mustRun(t, ctx, nil, "ip", "-n", n.sw, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	mustRun(t, ctx, nil, "ip", "-n", n.sw, "link", "set", "br0", "up")
	return n
}

func (n *network) addNS(ctx context.Context, name string) {
	n.t.Helper()
	mustRun(n.t, ctx, nil, "ip", "netns", "add", name)
	n.t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			n.t.Logf("ip netns delete %s: %v %s", name, err, out)
		}
	})
}

// addNode creates the node's namespace with eth0 (addr/24) on the bridge.
func (n *network) addNode(ctx context.Context, name, addr string) string {
	ns := n.prefix + "-" + name
	port := "p-" + name
	n.addNS(ctx, ns)
	for _, args := range [][]string{
		{"-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", n.sw},
		{"-n", n.sw, "link", "set", port, "master", "br0", "up"},
		{"-n", ns, "addr", "add", addr + "/24", "dev", "eth0"},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "link", "set", "eth0", "up"},
	} {
		mustRun(n.t, ctx, nil, "ip", args...)
	}
	return ns
}

// node is one agent: the image's filesystem, a network namespace, and the
// agent as PID 1 of its own PID namespace.
type node struct {
	name, addr, root, netns string
	logPath                 string
	cmd                     *exec.Cmd
	done                    chan struct{}
	exit                    int
}

func (n *node) start(t *testing.T, logPath string) {
	t.Helper()
	n.logPath = logPath
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	caps := "-all"
	for _, c := range manifests.Capabilities() {
		caps += ",+" + strings.ToLower(c)
	}
	// ip netns exec -> unshare (new PID and mount namespace, chroot into
	// the image, fresh /proc) -> the image's setpriv (drops every
	// capability but the manifests' set, no_new_privs like
	// allowPrivilegeEscalation: false) -> the agent as PID 1.
	n.cmd = exec.Command("ip", "netns", "exec", n.netns,
		"unshare", "--pid", "--mount", "--fork", "--kill-child", "--root="+n.root, "--mount-proc",
		"/usr/bin/setpriv", "--inh-caps=-all", "--bounding-set="+caps, "--no-new-privs",
		"/usr/local/bin/ipfailover", "run")
	n.cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"OPENSHIFT_HA_CONFIG_NAME=imagetest",
		"OPENSHIFT_HA_VIRTUAL_IPS=" + vip,
		"OPENSHIFT_HA_NETWORK_INTERFACE=eth0",
		"OPENSHIFT_HA_CHECK_SCRIPT=" + checkPath,
		"OPENSHIFT_HA_CHECK_INTERVAL=1",
		"OPENSHIFT_HA_REPLICA_COUNT=2",
		"OPENSHIFT_HA_VRRP_ID_OFFSET=10",
	}
	n.cmd.Stdout, n.cmd.Stderr = logFile, logFile
	// If the test binary dies, unshare dies, and --kill-child takes the
	// agent with it.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", n.name, err)
	}
	n.done = make(chan struct{})
	go func() {
		err := n.cmd.Wait()
		logFile.Close()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			n.exit = ee.ExitCode()
		default:
			n.exit = -1
		}
		close(n.done)
	}()
	t.Cleanup(func() {
		select {
		case <-n.done:
		default:
			if pid := n.agentPID(); pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			n.cmd.Process.Kill()
			<-n.done
		}
	})
}

// agentPID is the host PID of the agent: the only child of unshare (which
// `ip netns exec` became).
func (n *node) agentPID() int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", n.cmd.Process.Pid, n.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	pid, _ := strconv.Atoi(f[0])
	return pid
}

// checkCapabilities checks that the agent runs as root with exactly the
// manifests' capabilities, once it has exec'd (setpriv drops them first).
func (n *node) checkCapabilities(t *testing.T) {
	t.Helper()
	var want uint64
	for _, c := range manifests.Capabilities() {
		bit, ok := capBits[c]
		if !ok {
			t.Fatalf("capability %s has no number in capBits", c)
		}
		want |= 1 << bit
	}
	var got string
	poll(t, 20*time.Second, n.name+" agent running with dropped capabilities", func() bool {
		pid := n.agentPID()
		if pid == 0 {
			return false
		}
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != "ipfailover" {
			return false
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return false
		}
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
				got = strings.TrimSpace(v)
			}
		}
		return got != ""
	})
	if eff, err := strconv.ParseUint(got, 16, 64); err != nil || eff != want {
		t.Errorf("%s: agent CapEff = %s, want %016x (%v)", n.name, got, want, manifests.Capabilities())
	}
}

func (n *node) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	pid := n.agentPID()
	if pid == 0 {
		t.Fatalf("%s: agent not running", n.name)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("signal %s: %v", n.name, err)
	}
}

// wait returns the exit code of the agent (unshare passes it on).
func (n *node) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-n.done:
		return n.exit
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s", n.name, timeout)
		return -1
	}
}

func (n *node) logSize() int64 {
	st, err := os.Stat(n.logPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

// waitLog waits until text appears in the node's log after offset.
func (n *node) waitLog(t *testing.T, offset int64, text string, timeout time.Duration) {
	t.Helper()
	poll(t, timeout, fmt.Sprintf("%q in %s's log", text, n.name), func() bool {
		data, err := os.ReadFile(n.logPath)
		return err == nil && int64(len(data)) > offset && bytes.Contains(data[offset:], []byte(text))
	})
}

func holds(t *testing.T, ctx context.Context, n *node) bool {
	t.Helper()
	out, err := exec.CommandContext(ctx, "ip", "-n", n.netns, "-4", "-o", "addr", "show", "dev", "eth0").CombinedOutput()
	if err != nil {
		t.Fatalf("ip addr in %s: %v %s", n.name, err, out)
	}
	return strings.Contains(string(out), " "+vip+"/")
}

// waitHolder waits until exactly one node holds the VIP for three
// consecutive seconds (want, when non-nil, must be that node) and returns it.
func waitHolder(t *testing.T, ctx context.Context, nodes []*node, want *node, timeout time.Duration) *node {
	t.Helper()
	var holder *node
	var since time.Time
	what := "exactly one node holding " + vip
	if want != nil {
		what = want.name + " alone holding " + vip
	}
	poll(t, timeout, what, func() bool {
		var hs []*node
		for _, n := range nodes {
			if holds(t, ctx, n) {
				hs = append(hs, n)
			}
		}
		if len(hs) != 1 || (want != nil && hs[0] != want) {
			holder = nil
			return false
		}
		if holder != hs[0] {
			holder, since = hs[0], time.Now()
		}
		return time.Since(since) >= 3*time.Second
	})
	return holder
}

// poll calls cond every 200ms until it returns true or timeout passes.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

func mustRun(t *testing.T, ctx context.Context, env []string, name string, args ...string) {
	t.Helper()
	c := exec.CommandContext(ctx, name, args...)
	c.Env = env
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail2(out, 40))
	}
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func randomSuffix(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return tail2(data, lines)
}

func tail2(data []byte, lines int) string {
	var all []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		all = append(all, sc.Text())
	}
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
