package statusapi

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// startServer serves st on a free loopback port with the given limits.
func startServer(t *testing.T, st *Status, maxConns int, connTimeout time.Duration) *Server {
	t.Helper()
	srv := New(Options{Addr: "127.0.0.1:0", Source: func() Status { return *st }, MaxConns: maxConns, ConnTimeout: connTimeout})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// dialIdle opens n connections that never send a byte.
func dialIdle(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		conns = append(conns, c)
	}
	return conns
}

func freshClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
}

// TestIdleConnectionFloodDelaysProbeOnlyBriefly: connections that send
// nothing hold the server's slots for one ConnTimeout at most, so a probe
// queued behind three waves of them is answered after about three
// ConnTimeouts rather than never.
func TestIdleConnectionFloodDelaysProbeOnlyBriefly(t *testing.T) {
	const (
		maxConns    = 4
		waves       = 3
		connTimeout = 200 * time.Millisecond
	)
	st := fullStatus()
	srv := startServer(t, &st, maxConns, connTimeout)
	idle := dialIdle(t, srv.Addr(), waves*maxConns)

	start := time.Now()
	resp, err := freshClient(10 * time.Second).Get("http://" + srv.Addr() + "/healthz")
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("/healthz behind %d idle connections: %v", len(idle), err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("/healthz = %d %q", resp.StatusCode, body)
	}
	// Served only once the first wave timed out: the connection cap holds.
	if elapsed < connTimeout/2 {
		t.Errorf("answered after %v, before any idle connection timed out: the connection limit is not enforced", elapsed)
	}
	if limit := waves*connTimeout + 2*time.Second; elapsed > limit {
		t.Errorf("answered after %v, want at most %v", elapsed, limit)
	}
	// Every idle connection was closed by the server.
	for i, c := range idle {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("idle connection %d got data instead of being closed", i)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("idle connection %d still open after %v", i, time.Since(start))
		}
	}
}

// TestConnectionLimitHoldsProbeWhileSlotsBusy: with the slots held by
// connections that stay within the timeout, a further client is not served.
func TestConnectionLimitHoldsProbeWhileSlotsBusy(t *testing.T) {
	st := fullStatus()
	srv := startServer(t, &st, 2, time.Hour)
	dialIdle(t, srv.Addr(), 2)
	if _, err := freshClient(300 * time.Millisecond).Get("http://" + srv.Addr() + "/healthz"); err == nil {
		t.Fatal("a third connection was served with MaxConns 2 taken")
	}
}

// TestSlowHeadersAreCut: a client dripping header bytes is disconnected
// after ConnTimeout, not served or kept forever.
func TestSlowHeadersAreCut(t *testing.T) {
	st := fullStatus()
	srv := startServer(t, &st, 4, 200*time.Millisecond)
	c := dialIdle(t, srv.Addr(), 1)[0]
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(c) // until the server hangs up
		closed <- b
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case b := <-closed:
			if strings.Contains(string(b), " 200 ") {
				t.Fatalf("server answered an incomplete request: %q", b)
			}
			return
		case <-tick.C:
			_, _ = io.WriteString(c, "X") // one more header byte
		case <-deadline:
			t.Fatal("connection dripping headers still open after 5s")
		}
	}
}

func TestOversizedHeadersRejected(t *testing.T) {
	st := fullStatus()
	srv := startServer(t, &st, 4, 5*time.Second)
	c := dialIdle(t, srv.Addr(), 1)[0]
	req := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"
	go func() { _, _ = io.WriteString(c, req) }() // the server may stop reading early
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
}

// countingGatherer counts gathers and lets the test hold one in progress.
type countingGatherer struct {
	n    atomic.Int32
	gate chan struct{}
}

func (g *countingGatherer) Gather() ([]*dto.MetricFamily, error) {
	g.n.Add(1)
	if g.gate != nil {
		<-g.gate
	}
	return nil, nil
}

func TestScrapesShareOneGatherPerTTL(t *testing.T) {
	g := &countingGatherer{gate: make(chan struct{})}
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	c := &cachedGatherer{g: g, ttl: time.Second, now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}

	// Ten concurrent scrapes while the first gather is still running.
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { _, _ = c.Gather() })
	}
	deadline := time.Now().Add(5 * time.Second)
	for g.n.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(g.gate)
	wg.Wait()
	if n := g.n.Load(); n != 1 {
		t.Errorf("%d gathers for 10 concurrent scrapes, want 1", n)
	}

	mu.Lock()
	now = now.Add(999 * time.Millisecond)
	mu.Unlock()
	_, _ = c.Gather()
	if n := g.n.Load(); n != 1 {
		t.Errorf("gathered again within the TTL (%d gathers)", n)
	}
	mu.Lock()
	now = now.Add(time.Millisecond)
	mu.Unlock()
	_, _ = c.Gather()
	if n := g.n.Load(); n != 2 {
		t.Errorf("%d gathers after the TTL, want 2", n)
	}
}

func TestRuleRestoredCounter(t *testing.T) {
	st := fullStatus()
	srv := newTestServer(&st)
	srv.TrackRule("INPUT", "ipv6")
	srv.ObserveRuleRestored("INPUT", "ipv4")
	srv.ObserveRuleRestored("INPUT", "ipv4")
	mf := gather(t, srv)["ipfailover_multicast_rule_restored_total"]
	if v, ok := value(mf, map[string]string{"chain": "INPUT", "family": "ipv4"}); !ok || v != 2 {
		t.Errorf("ipv4 restored = %v (%v), want 2", v, ok)
	}
	if v, ok := value(mf, map[string]string{"chain": "INPUT", "family": "ipv6"}); !ok || v != 0 {
		t.Errorf("ipv6 restored = %v (%v), want a 0 series", v, ok)
	}
}

var _ prometheus.Gatherer = (*cachedGatherer)(nil)
