package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
)

// Event reasons, as `kubectl get events` shows them on the agent's pod.
const (
	ReasonVIPMaster           = "VIPMaster"           // Normal: an instance became MASTER (this node holds its VIPs)
	ReasonVIPBackup           = "VIPBackup"           // Normal: an instance became BACKUP
	ReasonVIPFault            = "VIPFault"            // Warning: an instance entered FAULT
	ReasonKeepalivedRestarted = "KeepalivedRestarted" // Warning: keepalived exited or hung and was restarted
	ReasonCheckFailing        = "CheckFailing"        // Warning: the health check fails
	ReasonVRIDConflict        = "VRIDConflict"        // Warning: another router uses one of our VRIDs
)

// EventComponent is the source (reportingController) of the events.
const EventComponent = "ipfailover"

// Bounds of the event path while the API server is away. client-go's
// broadcaster never blocks the caller (it drops when its queue of 1000 is
// full) and retries each event 12 times, sleeping its sleep duration in
// between (10 s; eventRetry here), so during an outage queued events wait
// minutes each. The Recorder therefore admits at most maxQueuedWhileDown
// events once a request failed, until one succeeds: memory stays small
// and what arrives after the outage is the start of it, not hours of
// stale transitions. Each request gives up after eventTimeout so a
// black-holed server cannot hang the sender.
const (
	maxQueuedWhileDown = 64
	eventTimeout       = 10 * time.Second
	eventRetry         = 5 * time.Second
)

// RecorderOptions configure NewRecorder.
type RecorderOptions struct {
	// Target is the API server and the agent's own pod, which the events
	// are about.
	Target
	// PodUID is the pod's UID (downward API metadata.uid). Empty: the
	// Recorder reads it from the API in the background; events before that
	// carry no UID, which `kubectl describe pod` does not show.
	PodUID types.UID
	// NodeName is the source host of the events (spec.nodeName). Optional.
	NodeName string
	Logger   *slog.Logger // nil: slog.Default()
}

// RecorderStats counts what happened to events.
type RecorderStats struct {
	Emitted uint64 // handed to client-go (it may still aggregate or rate-limit them)
	Dropped uint64 // refused before client-go: off, or too many queued while the API is away
	Failed  uint64 // requests that failed (each event retries)
}

// Recorder emits Events on the agent's pod through client-go's event
// broadcaster, which aggregates similar events, counts repeats on one
// object and rate-limits per object. No method blocks.
type Recorder struct {
	log         *slog.Logger
	target      Target
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder

	mu  sync.Mutex
	ref *corev1.ObjectReference

	off         atomic.Bool
	down        atomic.Bool  // the last request failed
	queuedDown  atomic.Int64 // events admitted since the API went away
	emitted     atomic.Uint64
	dropped     atomic.Uint64
	failed      atomic.Uint64
	offReported sync.Once
}

// NewRecorder starts the event broadcaster; it stops when ctx ends (events
// still queued then are dropped). It fails only on a bad configuration.
func NewRecorder(ctx context.Context, o RecorderOptions) (*Recorder, error) {
	if o.Config == nil || o.Namespace == "" || o.PodName == "" {
		return nil, errors.New("kube: recorder needs a rest.Config, a namespace and a pod name")
	}
	cfg := rest.CopyConfig(o.Config)
	cfg.Timeout = eventTimeout
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube: events client: %w", err)
	}
	r := &Recorder{
		log:    o.Logger,
		target: o.Target,
		ref: &corev1.ObjectReference{
			Kind: "Pod", APIVersion: "v1",
			Namespace: o.Namespace, Name: o.PodName, UID: o.PodUID,
		},
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.broadcaster = record.NewBroadcaster(record.WithContext(ctx), record.WithSleepDuration(eventRetry),
		record.WithCorrelatorOptions(record.CorrelatorOptions{SpamKeyFunc: spamKey}))
	r.broadcaster.StartRecordingToSink(&sink{r: r, next: &typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")}})
	r.recorder = r.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: EventComponent, Host: o.NodeName})
	if o.PodUID == "" {
		go r.lookupUID(ctx, cs)
	}
	return r, nil
}

// lookupUID reads the pod's UID so that events attach to this pod object
// and not to a same-named successor.
func (r *Recorder) lookupUID(ctx context.Context, cs kubernetes.Interface) {
	delay := time.Second
	for {
		pod, err := cs.CoreV1().Pods(r.target.Namespace).Get(ctx, r.target.PodName, metav1.GetOptions{})
		if err == nil {
			r.mu.Lock()
			r.ref.UID = pod.UID
			r.mu.Unlock()
			return
		}
		if isPermanent(err) || apierrors.IsNotFound(err) {
			r.log.Debug("kubernetes events: pod UID unknown; events carry none", "err", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// Transition is a VRRP instance's state change.
type Transition struct {
	Instance string         // keepalived's vrrp_instance name
	VRID     int            // 0: not shown
	State    string         // MASTER, BACKUP or FAULT (case does not matter)
	VIPs     []netip.Prefix // the instance's VIPs
	Reason   string         // why, in a few words; optional
}

// Transition records VIPMaster, VIPBackup or VIPFault. Other states
// (keepalived's STOP) are not events.
func (r *Recorder) Transition(t Transition) {
	var reason, kind string
	switch strings.ToUpper(t.State) {
	case "MASTER":
		reason, kind = ReasonVIPMaster, corev1.EventTypeNormal
	case "BACKUP":
		reason, kind = ReasonVIPBackup, corev1.EventTypeNormal
	case "FAULT":
		reason, kind = ReasonVIPFault, corev1.EventTypeWarning
	default:
		return
	}
	var b strings.Builder
	b.WriteString(t.Instance)
	if t.VRID != 0 {
		fmt.Fprintf(&b, " (VRID %d)", t.VRID)
	}
	fmt.Fprintf(&b, " is %s", strings.ToUpper(t.State))
	if len(t.VIPs) > 0 {
		b.WriteString(" for ")
		for i, p := range t.VIPs {
			if i > 0 {
				b.WriteString(", ")
			}
			if p.IsSingleIP() {
				b.WriteString(p.Addr().String())
			} else {
				b.WriteString(p.String())
			}
		}
	}
	if t.Reason != "" {
		b.WriteString(": ")
		b.WriteString(t.Reason)
	}
	r.emit(kind, reason, b.String())
}

// KeepalivedRestarted records that keepalived was restarted, and why.
func (r *Recorder) KeepalivedRestarted(why string) {
	r.emit(corev1.EventTypeWarning, ReasonKeepalivedRestarted, "keepalived restarted: "+why)
}

// CheckFailing records that the health check fails (message: which check
// and how).
func (r *Recorder) CheckFailing(message string) {
	r.emit(corev1.EventTypeWarning, ReasonCheckFailing, message)
}

// VRIDConflict records another router on the segment using one of our
// VRIDs (message: which VRID, who, what differs).
func (r *Recorder) VRIDConflict(message string) {
	r.emit(corev1.EventTypeWarning, ReasonVRIDConflict, message)
}

// Off reports whether events are off for good (the API refused them).
func (r *Recorder) Off() bool { return r.off.Load() }

// Stats returns the counters.
func (r *Recorder) Stats() RecorderStats {
	return RecorderStats{Emitted: r.emitted.Load(), Dropped: r.dropped.Load(), Failed: r.failed.Load()}
}

// Shutdown stops the broadcaster (as ending NewRecorder's ctx does).
func (r *Recorder) Shutdown() { r.broadcaster.Shutdown() }

func (r *Recorder) emit(kind, reason, message string) {
	if r.off.Load() {
		r.dropped.Add(1)
		return
	}
	if r.down.Load() && r.queuedDown.Add(1) > maxQueuedWhileDown {
		r.dropped.Add(1)
		return
	}
	r.mu.Lock()
	ref := *r.ref
	r.mu.Unlock()
	r.emitted.Add(1)
	// Non-blocking: client-go drops when its queue is full.
	r.recorder.Event(&ref, kind, reason, message)
}

// spamKey keeps client-go's rate limit (per object a burst of 25 events,
// then one per 5 minutes) but per reason too: by default it is per event
// type, and a failing check's Warnings would starve VIPFault and
// VRIDConflict.
func spamKey(e *corev1.Event) string {
	io := e.InvolvedObject
	return strings.Join([]string{e.Source.Component, e.Source.Host, io.Kind, io.Namespace, io.Name,
		string(io.UID), io.APIVersion, e.Type, e.Reason}, "")
}

// sink watches the outcome of each request client-go makes for an event.
type sink struct {
	r    *Recorder
	next record.EventSink
}

func (s *sink) Create(e *corev1.Event) (*corev1.Event, error) { return s.done(s.next.Create(e)) }
func (s *sink) Update(e *corev1.Event) (*corev1.Event, error) { return s.done(s.next.Update(e)) }
func (s *sink) Patch(e *corev1.Event, p []byte) (*corev1.Event, error) {
	return s.done(s.next.Patch(e, p))
}

func (s *sink) done(e *corev1.Event, err error) (*corev1.Event, error) {
	r := s.r
	var status apierrors.APIStatus
	switch {
	case err == nil:
		r.down.Store(false)
		r.queuedDown.Store(0)
	case isPermanent(err):
		r.failed.Add(1)
		r.down.Store(false)
		r.off.Store(true)
		r.offReported.Do(func() {
			r.log.Warn("kubernetes events off: " + permissionHint(err))
		})
	case apierrors.IsNotFound(err):
		// A patch of an event the server no longer has: client-go creates
		// it anew.
	case errors.As(err, &status) && status.Status().Code < 500:
		// The server answered (a malformed event, a namespace being
		// deleted): client-go drops that event, the API is fine.
		r.failed.Add(1)
	default:
		r.failed.Add(1)
		if !r.down.Swap(true) {
			r.queuedDown.Store(0)
		}
	}
	return e, err
}
