package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ipfailover/ipfailover/e2e/lab"
	"github.com/ipfailover/ipfailover/kube"
)

// TestKubeLab checks the Kubernetes lab itself, without the agent: from
// inside a node's namespaces, with only the credentials mounted where
// client-go looks for them, the API server on the lab's bridge answers
// /readyz over TLS (its certificate names the bridge address), the token
// of the service account with the generator's Role lists the workload's
// pods (with the nodes' addresses as host IPs), and the token without it
// is refused. If this fails, the agent-level tests say nothing about the
// agent.
func TestKubeLab(t *testing.T) {
	k := startKubeLab(t, 2)
	k.createPods(t)
	for i, n := range k.lab.Nodes {
		sa := kubeSA
		if i == 1 {
			sa = kubeSANoRole
		}
		// A stand-in for the agent: PID 1 with the pod's mounts and
		// environment.
		if err := n.Start(k.podSpec(t, n, sa, []string{"/bin/sleep", "infinity"}, nil)); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range k.lab.Nodes {
		cfg := inClusterConfig(t, n)
		cs := kubernetes.NewForConfigOrDie(cfg)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil || string(body) != "ok" {
			t.Fatalf("%s: GET %s/readyz from the node: %q, %v", n.Name, cfg.Host, body, err)
		}
		pods, err := cs.CoreV1().Pods(kubeNamespace).List(ctx, metav1.ListOptions{})
		cancel()
		if i == 1 {
			if !apierrors.IsForbidden(err) {
				t.Errorf("%s: service account %s without a Role listed pods: %v", n.Name, kubeSANoRole, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: list pods with the mounted token of %s: %v", n.Name, kubeSA, err)
		}
		var hostIPs []netip.Addr
		for _, p := range pods.Items {
			hostIPs = append(hostIPs, netip.MustParseAddr(p.Status.HostIP))
		}
		slices.SortFunc(hostIPs, netip.Addr.Compare)
		if want := ipv4s(k.lab.Nodes...); !slices.Equal(hostIPs, want) {
			t.Errorf("%s: pods' host IPs %v, want the nodes' %v", n.Name, hostIPs, want)
		}
	}
	// Events are readable as the agent-level tests read them.
	if _, err := k.events(t.Context(), k.lab.Nodes[0]); err != nil {
		t.Fatal(err)
	}
}

// inClusterConfig builds what client-go's rest.InClusterConfig would inside
// node n: the environment of its PID 1 and the files under
// kube.ServiceAccountDir in its mount namespace, with connections made in
// its network namespace.
func inClusterConfig(t *testing.T, n *lab.Node) *rest.Config {
	t.Helper()
	environ, err := n.ReadFile("/proc/1/environ")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(environ), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for _, v := range []string{"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "POD_NAME", "POD_NAMESPACE", "POD_UID", "NODE_NAME"} {
		if env[v] == "" {
			t.Fatalf("%s: PID 1 has no %s", n.Name, v)
		}
	}
	// Node.ReadFile goes through /proc/PID/root, where an absolute
	// symlink (Debian's /var/run -> /run) would resolve on the host:
	// resolve it here first; the node shares the host's root file system.
	dir := kube.ServiceAccountDir
	if run, err := filepath.EvalSymlinks("/var/run"); err == nil && strings.HasPrefix(dir, "/var/run/") {
		dir = filepath.Join(run, strings.TrimPrefix(dir, "/var/run/"))
	}
	read := func(name string) []byte {
		var b []byte
		// PID 1 mounts them first thing, but Start does not wait for it.
		err := lab.Poll(t.Context(), 5*time.Second, 20*time.Millisecond, func() error {
			var err error
			b, err = n.ReadFile(filepath.Join(dir, name))
			return err
		})
		if err != nil {
			t.Fatalf("%s: the credentials are not mounted: %v", n.Name, err)
		}
		return b
	}
	if ns := string(read("namespace")); ns != env["POD_NAMESPACE"] {
		t.Errorf("%s: mounted namespace %q, POD_NAMESPACE %q", n.Name, ns, env["POD_NAMESPACE"])
	}
	return &rest.Config{
		Host:            "https://" + env["KUBERNETES_SERVICE_HOST"] + ":" + env["KUBERNETES_SERVICE_PORT"],
		BearerToken:     string(read("token")),
		TLSClientConfig: rest.TLSClientConfig{CAData: read("ca.crt")},
		Dial:            n.Dial,
	}
}

// TestKubeAgents runs agents as pods of a Deployment against one API
// server on the lab's segment, in phases that share it (starting it is
// the slow part):
//
//   - unicast without static peers: the peers come from the pods, each
//     VIP is on exactly one node, each node masters ⌊G/N⌋ or ⌈G/N⌉ groups;
//   - Events for the transitions on each agent's pod;
//   - a pod object deleted (and its agent stopped, as the kubelet would):
//     the others drop it from their peers within 5 s and only its groups
//     move; added back: the placement is the first one again;
//   - the API server stopped: the VIPs stay, ipfailover_kubernetes_up is
//     0; back: 1 again, no VIP moved, no peer change counted (after the
//     deletion phase: a watch re-established after the restart has been
//     seen to lag several seconds, which is not what that phase measures);
//   - multicast, 4 nodes, 10 groups: the node set from the API gives
//     exact placement, no node masters more than 3;
//   - a service account without the Role: one clear line, and the agents
//     run on their static configuration.
func TestKubeAgents(t *testing.T) {
	k := startKubeLab(t, 4)
	k.createPods(t)
	l := k.lab
	vipStr := "192.0.2.200-209" // one VIP per group: 10 groups on 4 nodes
	vips := vipList(vipStr)
	balanced := func(nodes []*lab.Node, lo, hi int) func(lab.Holding) error {
		return func(h lab.Holding) error {
			if err := h.ExactlyOne(); err != nil {
				return err
			}
			for _, n := range nodes {
				if got := len(h.HeldBy(n.Name)); got < lo || got > hi {
					return fmt.Errorf("%s masters %d groups, want %d to %d; placement %v", n.Name, got, lo, hi, h)
				}
			}
			return nil
		}
	}
	unicast := fast(map[string]string{"OPENSHIFT_HA_USE_UNICAST": "true", "OPENSHIFT_HA_REPLICA_COUNT": "4"})

	k.startKubeAgents(t, kubeSA, vipStr, unicast)
	requireAgentKube(t, l.Nodes[0])
	var initial lab.Holding
	ok := t.Run("unicast peers from the pods", func(t *testing.T) {
		for _, n := range l.Nodes {
			waitPeers(t, n, ipv4s(otherThan(l, n)...), 20*time.Second)
		}
		initial = waitStable(t, l, vips, 30*time.Second, fastMasterDown+time.Second, balanced(l.Nodes, 2, 3))
		t.Logf("4 nodes, 10 groups, peers from the API: %v", initial)
	})
	if !ok {
		t.FailNow() // every phase below starts from this placement
	}

	t.Run("events on the pods", func(t *testing.T) {
		// Every node masters at least two groups, so every pod must have
		// VIPMaster Events, about itself.
		for _, n := range l.Nodes {
			p := k.pod(n)
			var evs []corev1.Event
			err := lab.Poll(t.Context(), 20*time.Second, 200*time.Millisecond, func() error {
				var err error
				if evs, err = k.events(t.Context(), n); err != nil {
					return err
				}
				if !slices.ContainsFunc(evs, func(e corev1.Event) bool { return e.Reason == kube.ReasonVIPMaster }) {
					return fmt.Errorf("%s: no %s Event among %d", n.Name, kube.ReasonVIPMaster, len(evs))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			reasons := map[string]int32{}
			for _, e := range evs {
				reasons[e.Reason] += max(e.Count, 1)
				io := e.InvolvedObject
				if io.Kind != "Pod" || io.Namespace != kubeNamespace || io.Name != p.Name || io.UID != p.UID {
					t.Errorf("%s: Event %s is about %s %s/%s (UID %s), want pod %s/%s (UID %s)", n.Name, e.Reason, io.Kind, io.Namespace, io.Name, io.UID, kubeNamespace, p.Name, p.UID)
				}
				if e.Source.Component != kube.EventComponent || e.Source.Host != n.Name {
					t.Errorf("%s: Event %s has source %+v, want %s on %s", n.Name, e.Reason, e.Source, kube.EventComponent, n.Name)
				}
				if e.Reason == kube.ReasonVIPMaster && e.Type != corev1.EventTypeNormal {
					t.Errorf("%s: %s Event of type %s", n.Name, e.Reason, e.Type)
				}
			}
			// Each VIP this node holds is named by one of its VIPMaster Events.
			for _, v := range initial.HeldBy(n.Name) {
				if !slices.ContainsFunc(evs, func(e corev1.Event) bool {
					return e.Reason == kube.ReasonVIPMaster && slices.Contains(words(e.Message), v.String())
				}) {
					t.Errorf("%s holds %s, but no %s Event names it: %v", n.Name, v, kube.ReasonVIPMaster, messages(evs))
				}
			}
			t.Logf("%s: Events %v", n.Name, reasons)
		}
	})

	t.Run("pod deleted and added back", func(t *testing.T) {
		victim := l.Nodes[3]
		survivors := otherThan(l, victim)
		before, err := l.Holders(vips)
		if err != nil {
			t.Fatal(err)
		}
		rec := recordHolding(l, vips, 25*time.Millisecond)
		offsets := map[string]int64{}
		for _, n := range survivors {
			offsets[n.Name] = logSize(n)
		}
		defer func() {
			if t.Failed() {
				for _, n := range survivors {
					t.Logf("%s: lines about peers since the deletion:\n%s", n.Name, strings.Join(linesWith(logSince(n, offsets[n.Name]), "peer"), "\n"))
				}
			}
		}()
		t0 := time.Now()
		t.Logf("deleting pod %s at %s", podName(victim), t0.Format("15:04:05.000"))
		k.deletePod(t, victim)
		// The kubelet would stop the deleted pod's agent; stopping it
		// after the deletion, not before, lets the survivors see the
		// peer set shrink while the victim still advertises.
		stopped := stopAsync(victim, 10*time.Second)
		for _, n := range survivors {
			waitPeers(t, n, ipv4s(except(survivors, n)...), 15*time.Second)
			if d := time.Since(t0); d > 5*time.Second {
				t.Errorf("%s dropped %s from its peers %s after the deletion, want within 5 s", n.Name, victim.Name, d.Round(time.Millisecond))
			}
		}
		t.Logf("every survivor dropped %s from its peers %s after the pod object was deleted", victim.Name, time.Since(t0).Round(time.Millisecond))
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		after := waitStable(t, l, vips, 20*time.Second, fastMasterDown+time.Second, balanced(survivors, 3, 4))
		seen := rec.Stop()
		for _, v := range vips {
			if was := before[v]; len(was) == 1 && was[0] != victim.Name && !slices.Equal(after[v], was) {
				t.Errorf("%s moved from %v to %v, though only %s's groups had to move", v, was, after[v], victim.Name)
			}
		}
		if t.Failed() {
			t.Logf("placements while %s went away:\n%s", victim.Name, strings.Join(seen, "\n"))
		}
		t.Logf("%s gone: %v", victim.Name, after)

		k.createPod(t, victim)
		for _, n := range survivors {
			waitPeers(t, n, ipv4s(otherThan(l, n)...), 5*time.Second)
		}
		k.startKubeAgent(t, victim, kubeSA, vipStr, unicast)
		back := waitStable(t, l, vips, 30*time.Second, fastMasterDown+time.Second, balanced(l.Nodes, 2, 3))
		if back.String() != initial.String() {
			t.Errorf("placement after %s came back: %v, want the first one %v", victim.Name, back, initial)
		}
	})

	t.Run("API server away", func(t *testing.T) {
		before, err := l.Holders(vips)
		if err != nil {
			t.Fatal(err)
		}
		rec := recordHolding(l, vips, 25*time.Millisecond)
		changes := map[string]float64{}
		for _, n := range l.Nodes {
			changes[n.Name], _, _ = metric(t, n, "ipfailover_kubernetes_peer_changes_total")
		}
		t0 := time.Now()
		k.stopAPI()
		down := waitMetric(t, "ipfailover_kubernetes_up", 0, 60*time.Second, l.Nodes...)
		t.Logf("ipfailover_kubernetes_up 0 on every node %s after the API server was killed", down.Round(time.Millisecond))
		// Long enough for keepalived to have acted on any change.
		time.Sleep(3 * time.Second)
		k.startAPI(t)
		up := waitMetric(t, "ipfailover_kubernetes_up", 1, 90*time.Second, l.Nodes...)
		t.Logf("ipfailover_kubernetes_up 1 on every node %s after the API server was back (outage %s)", up.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
		time.Sleep(fastMasterDown + time.Second)
		seen := rec.Stop()
		if len(seen) != 1 || !strings.HasSuffix(seen[0], before.String()) {
			t.Errorf("the VIPs moved while the API server was away or coming back, want them where they were (%v):\n%s", before, strings.Join(seen, "\n"))
		}
		for _, n := range l.Nodes {
			if v, _, err := metric(t, n, "ipfailover_kubernetes_peer_changes_total"); err != nil || v != changes[n.Name] {
				t.Errorf("%s: ipfailover_kubernetes_peer_changes_total %v after the outage, %v before (%v): the relist changed the peers", n.Name, v, changes[n.Name], err)
			}
			if got := logCount(n, "kubernetes API not usable"); got != 1 {
				t.Errorf("%s: %d warnings that the API is not usable, want 1", n.Name, got)
			}
		}
	})

	k.stopAgents(t)

	t.Run("multicast exact placement", func(t *testing.T) {
		k.startKubeAgents(t, kubeSA, vipStr, fast(map[string]string{"OPENSHIFT_HA_REPLICA_COUNT": "4"}))
		h := waitStable(t, l, vips, 30*time.Second, fastMasterDown+time.Second, balanced(l.Nodes, 0, 3))
		for _, n := range l.Nodes {
			if ps, err := unicastPeers(n); err != nil || len(ps) != 0 {
				t.Errorf("%s: unicast peers %v (%v) in a multicast configuration", n.Name, ps, err)
			}
		}
		t.Logf("multicast, 4 nodes, 10 groups, node set from the API: %v", h)
	})
	k.stopAgents(t)

	t.Run("service account without the Role", func(t *testing.T) {
		offsets := map[string]int64{}
		for _, n := range l.Nodes {
			offsets[n.Name] = logSize(n)
		}
		k.startKubeAgents(t, kubeSANoRole, vipStr, fast(map[string]string{"OPENSHIFT_HA_REPLICA_COUNT": "4"}))
		h := waitStable(t, l, vips, 30*time.Second, fastMasterDown+time.Second, exactlyOne)
		t.Logf("static configuration (multicast, no node set): %v", h)
		for _, n := range l.Nodes {
			var lines []string
			err := lab.Poll(t.Context(), 10*time.Second, 100*time.Millisecond, func() error {
				lines = linesWith(logSince(n, offsets[n.Name]), "kubernetes API features off")
				if len(lines) == 0 {
					return fmt.Errorf("%s: no line saying the Kubernetes API features are off", n.Name)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) != 1 || !strings.Contains(lines[0], "forbidden") || !strings.Contains(lines[0], "Role") {
				t.Errorf("%s: want one line that names the refusal and the Role, got %q", n.Name, lines)
			}
			// The events path finds the refusal on its own when the first
			// transition is recorded; it may say so once more, not again
			// for every event.
			if evLines := linesWith(logSince(n, offsets[n.Name]), "kubernetes events off"); len(evLines) > 1 {
				t.Errorf("%s: %d lines saying Events are off, want at most one: %q", n.Name, len(evLines), evLines)
			}
			if v, ok, err := metric(t, n, "ipfailover_kubernetes_up"); err != nil || ok {
				t.Errorf("%s: ipfailover_kubernetes_up exported (%v, %v) while the features are off", n.Name, v, err)
			}
			t.Logf("%s: %s; other lines about the refusal: %q", n.Name, strings.TrimSpace(lines[0]),
				slices.DeleteFunc(linesWith(logSince(n, offsets[n.Name]), "Role"), func(s string) bool { return s == lines[0] }))
		}
	})
	k.stopAgents(t)
}

// messages lists the Events' reasons and messages, for failure output.
func messages(evs []corev1.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Reason+": "+e.Message)
	}
	return out
}

// except returns nodes without n.
func except(nodes []*lab.Node, n *lab.Node) []*lab.Node {
	return slices.DeleteFunc(slices.Clone(nodes), func(o *lab.Node) bool { return o == n })
}

// words splits an Event message into its words, without the commas
// between listed VIPs and the colon before a reason.
func words(s string) []string {
	ws := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	for i, w := range ws {
		ws[i] = strings.TrimSuffix(w, ":")
	}
	return ws
}

// linesWith returns the lines of s that contain substr.
func linesWith(s, substr string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}
