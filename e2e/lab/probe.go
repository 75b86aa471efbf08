package lab

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Probe connects from the client namespace to target with the given timeout
// and returns the name of the node whose service answered.
func (l *Lab) Probe(ctx context.Context, target netip.AddrPort, timeout time.Duration) (string, error) {
	return probe(ctx, l.Client.NS, target, timeout)
}

func probe(ctx context.Context, ns string, target netip.AddrPort, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var conn net.Conn
	err := inNetns(ns, func() error {
		var d net.Dialer
		var err error
		// A single literal address dials serially on this goroutine, so
		// the socket is created inside the namespace.
		conn, err = d.DialContext(ctx, "tcp", target.String())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("probe %s: %w", target, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("probe %s: read answer: %w", target, err)
	}
	return strings.TrimSpace(line), nil
}

// Sample is one probe result.
type Sample struct {
	At   time.Time // when the probe started
	Node string    // answering node, "" on failure
	Err  error
}

// OK reports whether the probe got an answer.
func (s Sample) OK() bool { return s.Err == nil }

// Trace is the time-ordered list of samples of one Prober.
type Trace struct {
	Target  netip.AddrPort
	Start   time.Time // when probing started
	End     time.Time // when probing stopped
	Samples []Sample
}

// Gap is a stretch of time without a successful probe.
type Gap struct {
	From, To time.Time
}

// Duration is the length of the gap.
func (g Gap) Duration() time.Duration { return g.To.Sub(g.From) }

// LongestGap returns the longest time between two successful probes (the
// outage a client would have seen). Leading and trailing failures count from
// the start and up to the end of the trace; a trace without any success is
// one gap over its whole span.
func (t Trace) LongestGap() Gap {
	last := t.Start
	var best Gap
	for _, s := range t.Samples {
		if !s.OK() {
			continue
		}
		if g := (Gap{From: last, To: s.At}); g.Duration() > best.Duration() {
			best = g
		}
		last = s.At
	}
	// A trace that ends with failures has an open gap up to its end.
	if n := len(t.Samples); n > 0 && !t.Samples[n-1].OK() {
		if g := (Gap{From: last, To: t.End}); g.Duration() > best.Duration() {
			best = g
		}
	} else if n == 0 {
		best = Gap{From: t.Start, To: t.End}
	}
	return best
}

// Answerers returns the sequence of nodes that answered, with consecutive
// repeats collapsed: ["n1", "n2"] means n1 served the target, then n2.
func (t Trace) Answerers() []string {
	var out []string
	for _, s := range t.Samples {
		if s.OK() && (len(out) == 0 || out[len(out)-1] != s.Node) {
			out = append(out, s.Node)
		}
	}
	return out
}

// Failures counts failed probes.
func (t Trace) Failures() int {
	n := 0
	for _, s := range t.Samples {
		if !s.OK() {
			n++
		}
	}
	return n
}

// FirstAnswerFrom returns the time of the first successful probe at or after
// since that was answered by a node accepted by match.
func (t Trace) FirstAnswerFrom(since time.Time, match func(node string) bool) (time.Time, bool) {
	for _, s := range t.Samples {
		if s.OK() && !s.At.Before(since) && match(s.Node) {
			return s.At, true
		}
	}
	return time.Time{}, false
}

// String summarises the trace for logs.
func (t Trace) String() string {
	g := t.LongestGap()
	return fmt.Sprintf("%s: %d probes, %d failed, longest gap %v, answered by %v",
		t.Target, len(t.Samples), t.Failures(), g.Duration().Round(time.Millisecond), t.Answerers())
}

// Prober probes one target from the client namespace at a fixed interval in
// the background until Stop is called.
type Prober struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	trace  Trace
}

// StartProber starts probing target every interval; each probe times out
// after timeout (keep it at or below interval so that a dead target does not
// stretch the sampling period).
func (l *Lab) StartProber(target netip.AddrPort, interval, timeout time.Duration) *Prober {
	ctx, cancel := context.WithCancel(context.Background())
	p := &Prober{cancel: cancel, done: make(chan struct{}), trace: Trace{Target: target, Start: time.Now()}}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			at := time.Now()
			node, err := probe(ctx, l.Client.NS, target, timeout)
			if ctx.Err() != nil {
				return
			}
			p.mu.Lock()
			p.trace.Samples = append(p.trace.Samples, Sample{At: at, Node: node, Err: err})
			p.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

// Trace returns the samples so far, without stopping.
func (p *Prober) Trace() Trace {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.trace
	t.Samples = slices.Clone(t.Samples)
	t.End = time.Now()
	return t
}

// Stop ends probing and returns the trace.
func (p *Prober) Stop() Trace {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.trace
	t.End = time.Now()
	return t
}
