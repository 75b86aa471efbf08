package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/kube"
	"github.com/ipfailover/ipfailover/render"
	"github.com/ipfailover/ipfailover/scripts"
	"github.com/ipfailover/ipfailover/supervisor"
	"github.com/ipfailover/ipfailover/vrrpstate"
)

// kubeSyncWait bounds how long the start waits for the first peer set, so
// that the first keepalived.conf already has the exact placement and no
// reload follows at once. The API is never on the failover path: after
// this the agent starts on its static configuration.
const kubeSyncWait = 3 * time.Second

// kubeView is one run's Kubernetes API features (package kube): the peer
// set from the workload's pods, Events on the agent's pod, and their
// metrics. A nil *kubeView is valid and does nothing: the features are off.
type kubeView struct {
	cfg     env.Config
	watcher *kube.Watcher
	rec     *kube.Recorder
	log     *slog.Logger

	mu sync.Mutex
	// seen is every peer seen since the start: placement keeps a peer that
	// left, so its groups go to their planned backups and no other group
	// moves; a new peer rebalances.
	seen []netip.Addr
}

// startKube turns the features on when the pod has in-cluster credentials
// and POD_NAME/POD_NAMESPACE, and OPENSHIFT_HA_KUBERNETES is not off; else
// it logs why in one line and returns nil. getenv is os.Getenv in the agent.
func startKube(ctx context.Context, cfg env.Config, getenv func(string) string, saDir string, log *slog.Logger) *kubeView {
	log = log.With("component", "kubernetes")
	t, err := kube.Detect(cfg.Kubernetes, getenv, saDir)
	if err != nil {
		if errors.Is(err, kube.ErrOff) {
			log.Info("Kubernetes API features off", "reason", err.Error())
		} else {
			log.Warn("Kubernetes API features off", "err", err)
		}
		return nil
	}
	kube.RouteKlog(log)
	w, err := kube.NewWatcher(kube.WatcherOptions{Target: *t, Selector: cfg.PeerSelector, Logger: log})
	if err != nil {
		log.Warn("Kubernetes API features off: cannot watch peers", "err", err)
		return nil
	}
	go w.Run(ctx)
	k := &kubeView{cfg: cfg, watcher: w, log: log}
	if rec, err := kube.NewRecorder(ctx, kube.RecorderOptions{Target: *t, PodUID: types.UID(getenv("POD_UID")), NodeName: getenv("NODE_NAME"), Logger: log}); err != nil {
		log.Warn("Kubernetes events off", "err", err)
	} else {
		k.rec = rec
	}
	log.Info("Kubernetes API features on: peers from the workload's pods, events on this pod", "namespace", t.Namespace, "pod", t.PodName)
	return k
}

// waitSynced waits, bounded, for the first peer set.
func (k *kubeView) waitSynced(ctx context.Context) {
	if k == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, kubeSyncWait)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !k.watcher.Synced() {
		if off, _ := k.watcher.Off(); off {
			return
		}
		select {
		case <-ctx.Done():
			k.log.Warn("no peer set from the API yet: starting on the static configuration; it follows when the API answers", "waited", kubeSyncWait)
			return
		case <-t.C:
		}
	}
}

// peers is the current peer set (this node included), or nil while it is
// unknown or the features are off.
func (k *kubeView) peers() []netip.Addr {
	if k == nil || !k.watcher.Synced() {
		return nil
	}
	if off, _ := k.watcher.Off(); off {
		return nil
	}
	return k.watcher.Peers()
}

// placementNodes is every peer seen since the start (the current ones
// included), sorted, or nil while none is known.
func (k *kubeView) placementNodes() []netip.Addr {
	cur := k.peers()
	if cur == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, a := range cur {
		if !slices.Contains(k.seen, a) {
			k.seen = append(k.seen, a)
		}
	}
	slices.SortFunc(k.seen, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Clone(k.seen)
}

// changed delivers peer set changes; nil (never ready) when off.
func (k *kubeView) changed() <-chan struct{} {
	if k == nil {
		return nil
	}
	return k.watcher.Changed()
}

// collectors export the features' metrics; none when off.
func (k *kubeView) collectors() []prometheus.Collector {
	if k == nil {
		return nil
	}
	return []prometheus.Collector{kube.NewCollector(k.watcher)}
}

// status is the features' part of /status; nil when off.
func (k *kubeView) status() any {
	if k == nil {
		return nil
	}
	st := k.watcher.Status()
	return &st
}

// applyPeers returns cfg and the render options with the peer set: the
// current peers become the unicast peers when unicast is asked for
// (OPENSHIFT_HA_USE_UNICAST) and the environment lists none (a list in the
// environment wins), and every peer seen (nodes) is the node set for exact
// placement in every mode.
func applyPeers(cfg env.Config, o render.Options, peers, nodes []netip.Addr) (env.Config, render.Options) {
	if len(peers) == 0 {
		return cfg, o
	}
	if cfg.UseUnicast && len(cfg.UnicastPeers) == 0 {
		cfg.UnicastPeers = slices.DeleteFunc(slices.Clone(peers), func(a netip.Addr) bool {
			return slices.ContainsFunc(cfg.VIPs, func(v env.VIP) bool { return v.Addr() == a })
		})
	}
	o.Nodes = nodes
	return cfg, o
}

// onTransition records an instance's state change as an Event.
func (k *kubeView) onTransition(c vrrpstate.Change, vips []netip.Prefix, vrid int) {
	if k == nil || k.rec == nil {
		return
	}
	k.rec.Transition(kube.Transition{Instance: c.Line.Name, VRID: vrid, State: string(c.Line.Word), VIPs: vips, Reason: c.Reason})
}

// onEvent records keepalived restarts as Events.
func (k *kubeView) onEvent(ev supervisor.Event) {
	if k == nil || k.rec == nil {
		return
	}
	if ev.Kind == supervisor.EventExited && !ev.Expected {
		why := ev.Reason
		if why == "" {
			why = ev.Status.String()
		}
		k.rec.KeepalivedRestarted(why)
	}
}

// onCheck records a health check that starts failing as an Event.
func (k *kubeView) onCheck(prevOK bool, res scripts.Result, command string) {
	if k == nil || k.rec == nil || !prevOK || res.OK() {
		return
	}
	k.rec.CheckFailing("health check failing: " + strings.TrimSpace(command) + ": " + res.Describe())
}

// onConflict records a VRID conflict the wire view raised.
func (k *kubeView) onConflict(message string) {
	if k == nil || k.rec == nil {
		return
	}
	k.rec.VRIDConflict(message)
}
