package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// States of a Watcher, as Status reports them.
const (
	StateStarting = "starting" // finding the owner or listing the pods for the first time
	StateUp       = "up"       // the peer set follows the API
	StateDown     = "down"     // the API is unreachable or refuses: the last peer set stays
	StateOff      = "off"      // permanently off (permissions, no owner): static configuration
)

// DefaultDebounce is how long the watcher lets pod changes settle before
// publishing a new peer set: a rollout or a node drain moves several pods
// at once, and each published change may cost a keepalived reload.
const DefaultDebounce = 200 * time.Millisecond

// WatcherOptions configure NewWatcher.
type WatcherOptions struct {
	// Target is the API server and the agent's own pod (see Detect).
	Target
	// Selector is OPENSHIFT_HA_PEER_SELECTOR: a label selector that picks
	// the peers instead of the owner's selector. Empty: the owner's.
	Selector string
	Logger   *slog.Logger  // nil: slog.Default()
	Clock    clock.Clock   // nil: the real clock
	Debounce time.Duration // 0: DefaultDebounce
}

// Status is the watcher's state as plain data, for the agent's /status.
type Status struct {
	State       string       `json:"state"`
	Reason      string       `json:"reason,omitempty"`
	Owner       string       `json:"owner,omitempty"`
	Selector    string       `json:"selector,omitempty"`
	Peers       []netip.Addr `json:"peers"`
	PeerChanges uint64       `json:"peerChanges"`
	LastChange  time.Time    `json:"lastChange,omitzero"`
}

// Watcher keeps the peer set: the host IPs of the pods that the selector of
// the agent's workload picks, in the agent's namespace. It only reads the
// API: nothing on the failover path waits for it, and when the API server
// is unreachable the last known set stays.
type Watcher struct {
	target   Target
	override labels.Selector // nil: the owner's selector
	log      *slog.Logger
	clk      clock.Clock
	debounce time.Duration
	changed  chan struct{}
	dirty    chan struct{}

	mu         sync.Mutex
	off        bool
	synced     bool   // the informer listed once and the set was published
	reachable  bool   // the last request to the API server got an answer
	problem    string // why not up: the last error, or a permission problem
	forbidden  bool   // the last answer was 401/403
	owner      Owner
	peers      []netip.Addr
	changes    uint64
	lastChange time.Time
	wasUp      bool // for logging each change of Up once
	everUp     bool
}

// NewWatcher checks the options; Run does the work. An invalid Selector is
// an error (the agent's configuration is wrong), as is a Target without a
// config, namespace or pod name.
func NewWatcher(o WatcherOptions) (*Watcher, error) {
	if o.Config == nil || o.Namespace == "" || o.PodName == "" {
		return nil, errors.New("kube: watcher needs a rest.Config, a namespace and a pod name")
	}
	w := &Watcher{
		target:   o.Target,
		log:      o.Logger,
		clk:      o.Clock,
		debounce: o.Debounce,
		changed:  make(chan struct{}, 1),
		dirty:    make(chan struct{}, 1),
	}
	if o.Selector != "" {
		sel, err := labels.Parse(o.Selector)
		if err != nil {
			return nil, fmt.Errorf("OPENSHIFT_HA_PEER_SELECTOR=%q: %w", o.Selector, err)
		}
		if sel.Empty() {
			return nil, fmt.Errorf("OPENSHIFT_HA_PEER_SELECTOR=%q selects every pod of the namespace", o.Selector)
		}
		w.override = sel
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.clk == nil {
		w.clk = clock.RealClock{}
	}
	if w.debounce <= 0 {
		w.debounce = DefaultDebounce
	}
	return w, nil
}

// Changed receives a value (coalesced) after each change of the peer set;
// read the set with Peers.
func (w *Watcher) Changed() <-chan struct{} { return w.changed }

// Peers returns the current peer set, sorted and without duplicates: the
// host IPs (both families when the cluster is dual-stack) of every
// selected pod that has one and has not terminated, this agent's pod
// included. Nil until the first list.
func (w *Watcher) Peers() []netip.Addr {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.peers)
}

// Synced reports whether Peers holds a set read from the API (it may be
// stale when Up is false).
func (w *Watcher) Synced() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.synced
}

// Up reports whether the peer set follows the API: the pods were listed
// and the API server answered the last request.
func (w *Watcher) Up() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.upLocked()
}

func (w *Watcher) upLocked() bool {
	return !w.off && w.synced && w.reachable && !w.forbidden
}

// Changes counts the changes of the peer set (the first list counts one).
func (w *Watcher) Changes() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changes
}

// Off reports whether the watcher gave up for good, and why.
func (w *Watcher) Off() (bool, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.off, w.problem
}

// Status returns the watcher's state.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := Status{
		Peers:       slices.Clone(w.peers),
		PeerChanges: w.changes,
		LastChange:  w.lastChange,
	}
	switch {
	case w.off:
		s.State = StateOff
	case w.upLocked():
		s.State = StateUp
	case !w.synced:
		s.State = StateStarting
	default:
		s.State = StateDown
	}
	if s.State != StateUp {
		s.Reason = w.problem
	}
	if w.owner.Selector != nil {
		s.Owner = w.owner.String()
		s.Selector = w.owner.Selector.String()
	}
	if s.Peers == nil {
		s.Peers = []netip.Addr{}
	}
	return s
}

// Run finds the peer selector and watches the pods until ctx ends or the
// watcher turns off (the reason is logged once, and Off reports it). While
// the API server is unreachable it retries, keeping the last peer set.
// Call it once.
func (w *Watcher) Run(ctx context.Context) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	cfg := rest.CopyConfig(w.target.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &reachTransport{rt: rt, report: w.observe} })
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		w.turnOff(fmt.Sprintf("client: %v", err))
		return
	}

	owner, ok := w.findOwner(ctx, cs)
	if !ok {
		return
	}
	w.mu.Lock()
	w.owner = owner
	w.mu.Unlock()

	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0,
		informers.WithNamespace(w.target.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = owner.Selector.String() }),
		informers.WithTransform(slimPod))
	inf := factory.Core().V1().Pods().Informer()
	// Fails only for an informer that already runs; this one does not.
	_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) { w.watchError(err, stop) })
	poke := func() {
		select {
		case w.dirty <- struct{}{}:
		default:
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}); err != nil {
		w.turnOff(fmt.Sprintf("pod informer: %v", err))
		return
	}
	factory.Start(ctx.Done())
	// Deferred calls run last-in first-out: stop the informers, then wait
	// for their goroutines.
	defer factory.Shutdown()
	defer stop()

	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return // ctx ended, or the watcher turned off
	}
	w.publish(inf.GetStore())
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.dirty:
		}
		t := w.clk.NewTimer(w.debounce)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		w.publish(inf.GetStore())
	}
}

// findOwner resolves the peer selector, retrying while the API server is
// unreachable. It returns false when ctx ended or the watcher turned off.
func (w *Watcher) findOwner(ctx context.Context, cs kubernetes.Interface) (Owner, bool) {
	if w.override != nil {
		return Owner{Selector: w.override}, true
	}
	delay := time.Second
	for {
		o, err := w.resolve(ctx, cs)
		if err == nil {
			return o, true
		}
		var no *errNoOwner
		switch {
		case ctx.Err() != nil:
			return Owner{}, false
		case errors.As(err, &no):
			w.turnOff(no.msg)
			return Owner{}, false
		case isPermanent(err):
			w.turnOff(permissionHint(err))
			return Owner{}, false
		}
		w.setProblem(fmt.Sprintf("finding the peers' owner: %v", err))
		if delay == time.Second { // the first failure only; retries at Debug
			w.log.Warn("kubernetes peers: API not usable yet, retrying; static configuration meanwhile", "err", err)
		} else {
			w.log.Debug("kubernetes peers: retrying", "err", err, "in", delay)
		}
		select {
		case <-ctx.Done():
			return Owner{}, false
		case <-w.clk.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

func (w *Watcher) resolve(ctx context.Context, cs kubernetes.Interface) (Owner, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pod, err := cs.CoreV1().Pods(w.target.Namespace).Get(ctx, w.target.PodName, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return Owner{}, &errNoOwner{fmt.Sprintf("pod %s/%s not found (POD_NAME/POD_NAMESPACE wrong?)", w.target.Namespace, w.target.PodName)}
		}
		return Owner{}, fmt.Errorf("get own pod: %w", err)
	}
	return resolveOwner(ctx, cs, pod)
}

// isPermanent: errors that retrying will not fix.
func isPermanent(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)
}

// permissionHint turns a 401/403 into the one line the operator needs.
func permissionHint(err error) string {
	var st apierrors.APIStatus
	msg := err.Error()
	if errors.As(err, &st) {
		msg = st.Status().Message
	}
	if apierrors.IsUnauthorized(err) {
		return msg + "; the service-account token was refused"
	}
	return msg + "; grant the Role in deploy/ (kube.RequiredRules) to the agent's service account"
}

// watchError is the informer's report of a failed list or watch. Refused
// before the first list: off for good. Refused later (RBAC changed under
// a running agent): down, and the informer keeps retrying.
func (w *Watcher) watchError(err error, stop context.CancelFunc) {
	if !isPermanent(err) {
		return // the transport already recorded it; client-go logs it
	}
	w.mu.Lock()
	synced := w.synced
	w.forbidden, w.problem = true, permissionHint(err)
	w.mu.Unlock()
	if !synced {
		w.turnOff(permissionHint(err))
		stop()
		return
	}
	w.logUp()
}

// observe records the outcome of one request to the API server.
func (w *Watcher) observe(ok bool, status int, err error) {
	w.mu.Lock()
	refused := status == http.StatusUnauthorized || status == http.StatusForbidden
	switch {
	case ok:
		w.reachable, w.forbidden, w.problem = true, false, ""
	case refused:
		// watchError or findOwner says more, and logs.
		w.reachable = true
		if !w.forbidden {
			w.forbidden, w.problem = true, fmt.Sprintf("API server answered HTTP %d", status)
		}
	case err != nil:
		w.reachable, w.problem = false, fmt.Sprintf("API server unreachable: %v", err)
	default:
		w.reachable, w.problem = false, fmt.Sprintf("API server answered HTTP %d", status)
	}
	w.mu.Unlock()
	if !refused {
		w.logUp()
	}
}

// logUp logs each change of Up once, after the first list.
func (w *Watcher) logUp() {
	w.mu.Lock()
	up, was, everUp, off := w.upLocked(), w.wasUp, w.everUp, w.off
	w.wasUp = up
	w.everUp = everUp || up
	problem, n := w.problem, len(w.peers)
	w.mu.Unlock()
	switch {
	case off || up == was || !everUp:
	case up:
		w.log.Info("kubernetes API usable again; peers follow the API", "peers", n)
	default:
		w.log.Warn("kubernetes API not usable; keeping the last known peers", "peers", n, "reason", problem)
	}
}

func (w *Watcher) setProblem(p string) {
	w.mu.Lock()
	w.problem = p
	w.mu.Unlock()
}

func (w *Watcher) turnOff(reason string) {
	w.mu.Lock()
	already := w.off
	w.off, w.problem = true, reason
	w.mu.Unlock()
	if !already {
		w.log.Warn("kubernetes API features off: " + reason)
	}
}

// publish computes the peer set from the informer's store and, when it
// differs from the last one, stores it and signals Changed.
func (w *Watcher) publish(store cache.Store) {
	peers := peerSet(store.List())
	w.mu.Lock()
	first := !w.synced
	w.synced = true
	if !first && slices.Equal(peers, w.peers) {
		w.mu.Unlock()
		w.logUp()
		return
	}
	w.peers = peers
	w.changes++
	w.lastChange = w.clk.Now()
	owner := w.owner
	w.mu.Unlock()
	if first {
		w.log.Info("kubernetes peers: following the API", "namespace", w.target.Namespace, "peers_of", owner.String(), "peers", peers)
	} else {
		w.log.Info("kubernetes peers changed", "peers", peers)
	}
	w.logUp()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// peerSet: the host IPs of pods that may run an agent. Pods that
// terminated (Succeeded, Failed: evicted pods stay listed) run nothing;
// pending and terminating ones may still be advertising, so they count.
func peerSet(objs []any) []netip.Addr {
	var out []netip.Addr
	add := func(s string) {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap())
		}
	}
	for _, o := range objs {
		p, ok := o.(*corev1.Pod)
		if !ok || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		add(p.Status.HostIP)
		for _, h := range p.Status.HostIPs {
			add(h.IP)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// slimPod keeps only what peerSet reads, so that a large namespace costs
// little memory.
func slimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: p.UID,
			ResourceVersion: p.ResourceVersion, Labels: p.Labels,
			DeletionTimestamp: p.DeletionTimestamp,
		},
		Status: corev1.PodStatus{Phase: p.Status.Phase, HostIP: p.Status.HostIP, HostIPs: p.Status.HostIPs},
	}, nil
}

// reachTransport reports the outcome of every request to the API server:
// an answer (even 404 or 409) means reachable; a transport error or 5xx
// does not; 401/403 are reachable but refused.
type reachTransport struct {
	rt     http.RoundTripper
	report func(ok bool, status int, err error)
}

func (t *reachTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	switch {
	case err != nil:
		if req.Context().Err() == nil { // our own cancellation is not the server's fault
			t.report(false, 0, err)
		}
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		t.report(false, resp.StatusCode, nil)
	default:
		t.report(true, resp.StatusCode, nil)
	}
	return resp, err
}

// WrappedRoundTripper lets client-go's debugging see through the wrapper.
func (t *reachTransport) WrappedRoundTripper() http.RoundTripper { return t.rt }
