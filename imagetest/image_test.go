package imagetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipfailover/ipfailover/manifests"
)

// The OpenShift 4 documentation's IP failover Deployment ("Configuring IP
// failover"), the contract existing users deploy the image with. Only the
// addresses (documentation ranges here) and the interface name (ens3
// there, eth0 in these namespaces) are this harness's own.
const (
	// configVolume is the mountPath of its config-volume, the ConfigMap
	// holding the check script (`oc create configmap
	// keepalived-checkscript --from-file=mycheckscript.sh`).
	configVolume = "/etc/keepalive"
	checkScript  = configVolume + "/mycheckscript.sh"
	monitorPort  = 30060
	// livenessDelay is its livenessProbe's initialDelaySeconds; the probe
	// has the default timeoutSeconds of 1, which kubelet enforces for exec
	// probes.
	livenessDelay   = 10 * time.Second
	livenessTimeout = 1 * time.Second
)

// livenessProbe is the documentation's `exec: command: [pgrep, keepalived]`.
var livenessProbe = []string{"pgrep", "keepalived"}

// vips is OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100-101 expanded.
var vips = []string{"192.0.2.100", "192.0.2.101"}

// deploymentEnv is the documentation Deployment's env, in its order.
func deploymentEnv() []string {
	return []string{
		"OPENSHIFT_HA_CONFIG_NAME=ipfailover",
		"OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100-101",
		"OPENSHIFT_HA_VIP_GROUPS=10",
		"OPENSHIFT_HA_NETWORK_INTERFACE=eth0",
		"OPENSHIFT_HA_MONITOR_PORT=" + strconv.Itoa(monitorPort),
		"OPENSHIFT_HA_VRRP_ID_OFFSET=0",
		"OPENSHIFT_HA_REPLICA_COUNT=2",
		"OPENSHIFT_HA_USE_UNICAST=false",
		"OPENSHIFT_HA_IPTABLES_CHAIN=INPUT",
		"OPENSHIFT_HA_CHECK_SCRIPT=" + checkScript,
		"OPENSHIFT_HA_PREEMPTION=preempt_delay 300",
		"OPENSHIFT_HA_CHECK_INTERVAL=2",
	}
}

// unhealthyFile, when present in a node's root, fails its check script.
const unhealthyFile = "/run/imagetest-unhealthy"

// checkScriptText is a user's check script of the kind the documentation
// mounts: bash (the [[ ]] needs it), with pgrep and nc from the image.
var checkScriptText = `#!/bin/bash
# Healthy while keepalived runs and the monitored service answers on the
# monitor port, unless the image test created ` + unhealthyFile + `.
[[ -e ` + unhealthyFile + ` ]] && exit 1
pgrep keepalived >/dev/null && nc -z -w 1 127.0.0.1 ` + strconv.Itoa(monitorPort) + `
`

// capBits maps the capability names the manifests grant to their numbers.
var capBits = map[string]uint{"NET_ADMIN": 12, "NET_RAW": 13}

// TestImageFailover builds the image, runs it on two nodes with the
// documentation's Deployment contract (environment, ConfigMap check
// script, liveness probe, the tools users' scripts call) and shows the
// VIPs failing over between them.
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
	// rlimits on these machines), with the check script's ConfigMap
	// mounted read-only as kubelet mounts the config-volume.
	tarball := filepath.Join(work, "image.tar")
	id := pm.output(ctx, "create", "--network=none", image)
	pm.run(ctx, "export", "-o", tarball, id)
	pm.run(ctx, "rm", id)
	configMap := configMapVolume(t, filepath.Join(work, "configmap"), map[string]string{filepath.Base(checkScript): checkScriptText})

	net := newNetwork(t, ctx)
	nodes := make([]*node, 2)
	for i := range nodes {
		n := &node{name: fmt.Sprintf("node%d", i+1), addr: fmt.Sprintf("192.0.2.%d", 11+i), root: mkdir(t, filepath.Join(work, fmt.Sprintf("root%d", i+1)))}
		mustRun(t, ctx, nil, "tar", "-C", n.root, "-xf", tarball)
		bindReadOnly(t, configMap, mkdir(t, filepath.Join(n.root, configVolume)))
		n.netns = net.addNode(ctx, n.name, n.addr)
		n.monitor = newMonitor(t, n.netns)
		nodes[i] = n
	}
	mustRun(t, ctx, nil, "rm", "-f", tarball)
	for _, n := range nodes {
		n.start(t, filepath.Join(work, n.name+".log"), deploymentEnv())
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
	// 4. What the Deployment and users' scripts run inside the container,
	// one subtest each so that every missing tool is reported, not only
	// the first. kubelet's first liveness probe comes initialDelaySeconds
	// after the start; failing it is the restart loop this contract is
	// about.
	contractOK := true
	for _, n := range nodes {
		contractOK = t.Run(n.name+"/livenessProbe_by_initialDelaySeconds", func(t *testing.T) {
			n.waitLive(t, n.started.Add(livenessDelay))
		}) && contractOK
	}
	t.Logf("liveness probes done (%s)", since(start))
	for _, n := range nodes {
		for _, c := range containerContract() {
			contractOK = t.Run(n.name+"/"+c.name, func(t *testing.T) {
				r := n.exec(t.Context(), c.timeout, c.argv...)
				if r.err != nil || r.code != 0 {
					t.Fatalf("%s: `%s` in the container: exit %d, err %v\nstdout: %s\nstderr: %s",
						c.name, strings.Join(c.argv, " "), r.code, r.err, r.stdout, r.stderr)
				}
				if c.check != nil {
					c.check(t, n, r)
				}
			}) && contractOK
		}
	}
	if !contractOK {
		// The failover needs all of it (the check script calls pgrep and
		// nc); waiting for VIPs that cannot come would only add noise.
		t.Fatal("the container contract failed; see the subtests above")
	}
	// keepalived runs (the probe passed), so the agent set its rule up.
	if out, err := exec.CommandContext(ctx, "ip", "netns", "exec", nodes[0].netns, "iptables", "-S", "INPUT").CombinedOutput(); err != nil {
		t.Logf("skipping the multicast rule check: iptables: %v %s", err, out)
	} else if !strings.Contains(string(out), "224.0.0.18") {
		t.Errorf("no VRRP multicast accept rule in the node's INPUT chain (OPENSHIFT_HA_IPTABLES_CHAIN=INPUT):\n%s", out)
	}
	// The table ran the check script by hand; connections after this
	// point are the agent's runs.
	byHand := map[*node]int{}
	for _, n := range nodes {
		byHand[n] = n.monitor.count("127.0.0.1")
	}

	// 5. Each VIP held by one node: the check script passes on both.
	held := waitHolders(t, ctx, nodes, nil, 90*time.Second)
	t.Logf("holders: %s (%s)", describeHolders(held), since(start))
	// The agent ran the script, whose nc reached the monitor port, and
	// with a check script set it runs no TCP check of its own (as the
	// original image: the script replaces the port check).
	for _, n := range nodes {
		if got := n.monitor.count("127.0.0.1"); got <= byHand[n] {
			t.Errorf("%s: the check script's `nc -z 127.0.0.1 %d` never connected while the agent ran it: the script did not run, or pgrep/nc failed in it", n.name, monitorPort)
		}
		if got := n.monitor.count(n.addr); got != 0 {
			t.Errorf("%s: %d connections to %s:%d: the default TCP check runs although OPENSHIFT_HA_CHECK_SCRIPT replaces it", n.name, got, n.addr, monitorPort)
		}
	}

	// 6. A failing check script moves every VIP away, and the liveness
	// probe keeps passing meanwhile: keepalived still runs (in FAULT), and
	// kubelet must not restart a pod whose check fails.
	first := held[vips[0]]
	other := nodes[0]
	if other == first {
		other = nodes[1]
	}
	mark := first.logSize()
	if err := os.WriteFile(filepath.Join(first.root, unhealthyFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	waitHolders(t, ctx, nodes, other, 30*time.Second)
	t.Logf("check script failed on %s: VIPs moved to %s in %s", first.name, other.name, since(t0))
	if r := first.exec(ctx, livenessTimeout, livenessProbe...); r.err != nil || r.code != 0 {
		t.Errorf("%s: liveness probe failed while its check fails (exit %d, err %v): kubelet would restart the pod", first.name, r.code, r.err)
	}
	if err := os.Remove(filepath.Join(first.root, unhealthyFile)); err != nil {
		t.Fatal(err)
	}
	// Recovered: BACKUP again, eligible for the next failover. Preemption
	// (preempt_delay 300) keeps the VIPs where they are meanwhile.
	first.waitLog(t, mark, "Entering BACKUP STATE", 30*time.Second)

	// 7. SIGTERM (a pod deletion) moves them back.
	t0 = time.Now()
	other.stop(t, syscall.SIGTERM)
	waitHolders(t, ctx, nodes, first, 30*time.Second)
	t.Logf("SIGTERM to %s: VIPs moved to %s in %s", other.name, first.name, since(t0))
	if code := other.wait(t, 30*time.Second); code != 0 {
		t.Errorf("%s exited with %d after SIGTERM, want 0", other.name, code)
	}
	if h := heldVIPs(t, ctx, other); len(h) > 0 {
		t.Errorf("%s still holds %v after stopping", other.name, h)
	}
	t.Logf("image test done in %s", since(start))
}

// contractItem is one command the Deployment or users' scripts run inside
// the container. It must exit 0 within timeout, and pass check if set.
type contractItem struct {
	name    string
	argv    []string
	timeout time.Duration
	check   func(t *testing.T, n *node, r execResult)
}

func containerContract() []contractItem {
	const cmdTimeout = 10 * time.Second
	return []contractItem{
		{"livenessProbe", livenessProbe, livenessTimeout, checkPgrepFindsKeepalived},
		{"ps", []string{"ps", "-e", "-o", "pid=,comm="}, cmdTimeout, func(t *testing.T, n *node, r execResult) {
			if !hasLine(r.stdout, "1", "ipfailover") || !hasLine(r.stdout, "", "keepalived") {
				t.Errorf("`ps -e` does not list the agent as PID 1 and keepalived:\n%s", r.stdout)
			}
		}},
		{"ifconfig", []string{"ifconfig", "eth0"}, cmdTimeout, func(t *testing.T, n *node, r execResult) {
			if !strings.Contains(r.stdout, "inet "+n.addr+" ") {
				t.Errorf("`ifconfig eth0` does not show %s:\n%s", n.addr, r.stdout)
			}
		}},
		{"killall", []string{"killall", "--version"}, cmdTimeout, func(t *testing.T, n *node, r execResult) {
			if !strings.Contains(r.stdout+r.stderr, "killall") {
				t.Errorf("`killall --version` printed no version:\n%s%s", r.stdout, r.stderr)
			}
		}},
		{"nc", []string{"nc", "-h"}, cmdTimeout, func(t *testing.T, n *node, r execResult) {
			if !strings.Contains(r.stdout+r.stderr, "usage: nc") || !strings.Contains(r.stdout+r.stderr, "-z") {
				t.Errorf("`nc -h` is not netcat-openbsd's help (scripts use -z):\n%s%s", r.stdout, r.stderr)
			}
		}},
		{"bash", []string{"bash", "-c", `[[ -n $BASH_VERSION ]] && echo "$BASH_VERSION"`}, cmdTimeout, nil},
		{"env", []string{"/usr/bin/env"}, cmdTimeout, func(t *testing.T, n *node, r execResult) {
			if !strings.Contains(r.stdout, "OPENSHIFT_HA_CONFIG_NAME=ipfailover\n") {
				t.Errorf("/usr/bin/env does not show the container's environment:\n%s", r.stdout)
			}
		}},
		{"keepalived.conf", []string{"cat", "/etc/keepalived/keepalived.conf"}, cmdTimeout, checkKeepalivedConf},
		{"check script", []string{checkScript}, cmdTimeout, nil},
	}
}

// checkPgrepFindsKeepalived checks that the liveness probe passes because
// keepalived runs, not because pgrep matched something else (the agent is
// PID 1 and called ipfailover, so only keepalived's own processes count).
func checkPgrepFindsKeepalived(t *testing.T, n *node, r execResult) {
	pids := strings.Fields(r.stdout)
	if len(pids) == 0 || slices.Contains(pids, "1") {
		t.Fatalf("`pgrep keepalived` matched %q, want keepalived's processes and not the agent (PID 1)", pids)
	}
	ps := n.exec(t.Context(), 10*time.Second, "ps", "-o", "comm=", "-p", strings.Join(pids, ","))
	if ps.err != nil || ps.code != 0 {
		t.Fatalf("ps -p %s: exit %d, err %v: %s", strings.Join(pids, ","), ps.code, ps.err, ps.stderr)
	}
	comms := strings.Fields(ps.stdout)
	if len(comms) != len(pids) {
		t.Fatalf("ps -p %s listed %q: processes gone between pgrep and ps?", strings.Join(pids, ","), comms)
	}
	for _, c := range comms {
		if c != "keepalived" {
			t.Errorf("`pgrep keepalived` matched a %q process (PIDs %v)", c, pids)
		}
	}
}

// checkKeepalivedConf checks the installed config reflects the
// documentation's environment: two groups from offset 0, the check script
// replacing the monitor-port check, the requested preemption.
func checkKeepalivedConf(t *testing.T, n *node, r execResult) {
	conf := r.stdout
	var want []string
	for i, v := range vips {
		want = append(want, fmt.Sprintf("virtual_router_id %d\n", i+1), v+"/32 dev eth0")
	}
	want = append(want, checkScript, "preempt_delay 300\n", "interface eth0\n")
	for _, w := range want {
		if !strings.Contains(conf, w) {
			t.Errorf("keepalived.conf lacks %q", strings.TrimSpace(w))
		}
	}
	if got := strings.Count(conf, "vrrp_instance "); got != len(vips) {
		t.Errorf("keepalived.conf has %d vrrp_instance blocks, want %d (one per VIP with OPENSHIFT_HA_VIP_GROUPS=10)", got, len(vips))
	}
	if strings.Contains(conf, " check tcp ") {
		t.Errorf("keepalived.conf names the TCP port check although OPENSHIFT_HA_CHECK_SCRIPT replaces it")
	}
	if t.Failed() {
		t.Logf("keepalived.conf:\n%s", conf)
	}
}

// hasLine reports whether text has a line of two fields, the first equal
// to first (any when ""), the second to second.
func hasLine(text, first, second string) bool {
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && (first == "" || f[0] == first) && f[1] == second {
			return true
		}
	}
	return false
}

// configMapVolume lays files out in dir the way kubelet materialises a
// ConfigMap volume (defaultMode 0755, as the documentation sets): each name
// a symlink through ..data into a timestamped directory, which is how a
// mounted script path looks to the agent in a real pod.
func configMapVolume(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	const ts = "..2025_01_01_00_00_00.000000001"
	mkdir(t, filepath.Join(dir, ts))
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, ts, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(ts, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// bindReadOnly bind-mounts src on dst read-only, as kubelet mounts a
// ConfigMap, and unmounts it at the end even if the test fails.
func bindReadOnly(t *testing.T, src, dst string) {
	t.Helper()
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s on %s: %v", src, dst, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dst, unix.MNT_DETACH); err != nil {
			t.Logf("unmount %s: %v", dst, err)
		}
	})
	if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", dst, err)
	}
	// The harness's own premise: were the mount writable, the test could
	// not show that the agent needs nothing writable there.
	if err := os.WriteFile(filepath.Join(dst, "probe"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("%s is not read-only: writing to it gave %v", dst, err)
	}
}

// monitor is the service the check script watches, listening on the
// monitor port in one node's network namespace. It counts connections by
// the address they were made to, which tells the script's (127.0.0.1) from
// the agent's own TCP check (the node's address).
type monitor struct {
	mu    sync.Mutex
	conns map[string]int
}

func newMonitor(t *testing.T, netns string) *monitor {
	t.Helper()
	l, err := listenInNetns(netns, fmt.Sprintf("0.0.0.0:%d", monitorPort))
	if err != nil {
		t.Fatalf("monitor port listener in %s: %v", netns, err)
	}
	m := &monitor{conns: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
				m.mu.Lock()
				m.conns[a.IP.String()]++
				m.mu.Unlock()
			}
			c.Close()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return m
}

func (m *monitor) count(addr string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.conns[addr]
}

// listenInNetns opens a TCP listener inside a named network namespace. A
// socket stays in the namespace it was created in, so only its creation
// needs a thread switched into the namespace.
func listenInNetns(netns, addr string) (net.Listener, error) {
	type result struct {
		l   net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: the runtime then ends the thread with this
		// goroutine instead of reusing it in the wrong namespace.
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join("/run/netns", netns))
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("setns: %w", err)}
			return
		}
		l, err := net.Listen("tcp4", addr)
		ch <- result{l, err}
	}()
	r := <-ch
	return r.l, r.err
}

// describeHolders formats a VIP -> holder map for logs.
func describeHolders(held map[string]*node) string {
	var parts []string
	for _, v := range vips {
		name := "none"
		if n := held[v]; n != nil {
			name = n.name
		}
		parts = append(parts, v+" on "+name)
	}
	return strings.Join(parts, ", ")
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
	for _, tool := range []string{"podman", "debootstrap", "setpriv", "unshare", "nsenter", "ip", "tar", "go"} {
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
	monitor                 *monitor
	env                     []string // the container's environment
	logPath                 string
	started                 time.Time
	cmd                     *exec.Cmd
	done                    chan struct{}
	exit                    int
}

// containerCaps is setpriv's --bounding-set for the manifests'
// capabilities and no others.
func containerCaps() string {
	caps := "-all"
	for _, c := range manifests.Capabilities() {
		caps += ",+" + strings.ToLower(c)
	}
	return caps
}

// start runs the agent with the container environment env (PATH added).
func (n *node) start(t *testing.T, logPath string, env []string) {
	t.Helper()
	n.logPath = logPath
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	n.env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	// ip netns exec -> unshare (new PID and mount namespace, chroot into
	// the image, fresh /proc) -> the image's setpriv (drops every
	// capability but the manifests' set, no_new_privs like
	// allowPrivilegeEscalation: false) -> the agent as PID 1.
	n.cmd = exec.Command("ip", "netns", "exec", n.netns,
		"unshare", "--pid", "--mount", "--fork", "--kill-child", "--root="+n.root, "--mount-proc",
		"/usr/bin/setpriv", "--inh-caps=-all", "--bounding-set="+containerCaps(), "--no-new-privs",
		"/usr/local/bin/ipfailover", "run")
	n.cmd.Env = n.env
	n.cmd.Stdout, n.cmd.Stderr = logFile, logFile
	// If the test binary dies, unshare dies, and --kill-child takes the
	// agent with it.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", n.name, err)
	}
	n.started = time.Now()
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

// execResult is how a command run inside a node's container ended.
type execResult struct {
	stdout, stderr string
	code           int   // exit code, -1 when it did not exit by itself
	err            error // could not be run, or timed out
}

// exec runs argv inside the node's container the way kubelet runs an exec
// probe or `oc exec`: in the agent's mount, PID and network namespaces and
// root, with the container's environment and capabilities, killed after
// timeout (kubelet's timeoutSeconds).
func (n *node) exec(ctx context.Context, timeout time.Duration, argv ...string) execResult {
	pid := n.agentPID()
	if pid == 0 {
		return execResult{code: -1, err: fmt.Errorf("%s: agent not running", n.name)}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := exec.CommandContext(ctx, "nsenter", append([]string{
		"--target", strconv.Itoa(pid), "--mount", "--pid", "--net", "--root", "--wd",
		"/usr/bin/setpriv", "--inh-caps=-all", "--bounding-set=" + containerCaps(), "--no-new-privs", "--"},
		argv...)...)
	c.Env = n.env
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	r := execResult{stdout: stdout.String(), stderr: stderr.String(), code: -1}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.err = fmt.Errorf("no exit within %s", timeout)
	case err == nil:
		r.code = 0
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		r.err = err
	}
	return r
}

// waitLive waits until the liveness probe passes in the node, by deadline.
func (n *node) waitLive(t *testing.T, deadline time.Time) {
	t.Helper()
	var last execResult
	pollUntil(t, deadline, func() (bool, string) {
		last = n.exec(t.Context(), livenessTimeout, livenessProbe...)
		return last.err == nil && last.code == 0, fmt.Sprintf("%s: liveness probe `%s` passing within initialDelaySeconds (%s); last: exit %d, err %v, stderr %q",
			n.name, strings.Join(livenessProbe, " "), livenessDelay, last.code, last.err, last.stderr)
	})
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

// heldVIPs lists the VIPs on the node's eth0.
func heldVIPs(t *testing.T, ctx context.Context, n *node) []string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "ip", "-n", n.netns, "-4", "-o", "addr", "show", "dev", "eth0").CombinedOutput()
	if err != nil {
		t.Fatalf("ip addr in %s: %v %s", n.name, err, out)
	}
	var held []string
	for _, v := range vips {
		if strings.Contains(string(out), " "+v+"/") {
			held = append(held, v)
		}
	}
	return held
}

// waitHolders waits until every VIP is on exactly one node, the same ones
// for three consecutive seconds (all on want, when non-nil), and returns
// the holder of each VIP.
func waitHolders(t *testing.T, ctx context.Context, nodes []*node, want *node, timeout time.Duration) map[string]*node {
	t.Helper()
	what := "every VIP on exactly one node"
	if want != nil {
		what = "every VIP on " + want.name + " alone"
	}
	var stable map[string]*node
	var since time.Time
	pollUntil(t, time.Now().Add(timeout), func() (bool, string) {
		cur := map[string]*node{}
		double := false
		for _, n := range nodes {
			for _, v := range heldVIPs(t, ctx, n) {
				double = double || cur[v] != nil
				cur[v] = n
			}
		}
		state := fmt.Sprintf("%s; now: %s", what, describeHolders(cur))
		ok := !double && len(cur) == len(vips)
		for _, n := range cur {
			ok = ok && (want == nil || n == want)
		}
		if !ok {
			stable = nil
			return false, state
		}
		if !maps.Equal(cur, stable) {
			stable, since = cur, time.Now()
		}
		return time.Since(since) >= 3*time.Second, state
	})
	return stable
}

// poll calls cond every 200ms until it returns true or timeout passes.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	pollUntil(t, time.Now().Add(timeout), func() (bool, string) { return cond(), what })
}

// pollUntil calls cond every 200ms until it returns true or deadline
// passes, then fails with cond's last description of what it waits for.
func pollUntil(t *testing.T, deadline time.Time, cond func() (bool, string)) {
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, what := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
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
