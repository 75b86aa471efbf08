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

// TestIdleConnectionFloodDoesNotDelayProbe: connections that send nothing
// never keep a probe waiting, however many there are and however long the
// timeout: a new connection displaces the oldest silent one, so the agent
// keeps at most MaxConns connections open and answers the probe at once.
func TestIdleConnectionFloodDoesNotDelayProbe(t *testing.T) {
	const maxConns = 4
	st := fullStatus()
	srv := startServer(t, &st, maxConns, time.Hour)
	idle := dialIdle(t, srv.Addr(), 5*maxConns)

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
	if elapsed > time.Second {
		t.Errorf("answered after %v behind %d idle connections, want within 1s", elapsed, len(idle))
	}
	// The oldest silent connections were closed by the server to make
	// room; at most MaxConns stay open.
	closed := 0
	for _, c := range idle {
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				closed++
			}
		}
	}
	if open := len(idle) - closed; open > maxConns {
		t.Errorf("%d of %d silent connections still open, want at most %d", open, len(idle), maxConns)
	}
}

// TestEvictionSparesRequestsInFlight: a connection serving a request is
// never the one displaced; the oldest silent one is.
func TestEvictionSparesRequestsInFlight(t *testing.T) {
	l := newEvictingListener(nil, 2)
	a, b := &net.TCPConn{}, &net.IPConn{}
	l.conns[a] = &trackedConn{since: time.Now().Add(-time.Minute)}
	l.conns[b] = &trackedConn{since: time.Now()}
	l.connState(a, http.StateActive)
	if got := l.oldestWaiting(); got != b {
		t.Errorf("victim %v, want the silent connection", got)
	}
	l.connState(b, http.StateActive)
	if got := l.oldestWaiting(); got != nil {
		t.Errorf("victim %v with every connection serving a request", got)
	}
	l.connState(a, http.StateClosed)
	if l.open() != 1 {
		t.Errorf("open = %d after a close", l.open())
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
