package statusapi

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// evictingListener keeps at most max connections open. When a connection
// arrives while max are open, the oldest one that is not serving a
// request (a new connection that has not sent its headers yet, or an idle
// kept-alive one) is closed to make room; if every one is serving a
// request, the new connection is closed instead. A flood of silent
// connections therefore only ever displaces other silent connections: a
// probe or a scrape, which sends its request at once, is served at once,
// and the agent's file descriptors stay bounded. (A plain limit would queue
// the probe behind every silent connection until each times out.)
type evictingListener struct {
	net.Listener
	max int

	mu    sync.Mutex
	conns map[net.Conn]*trackedConn
}

type trackedConn struct {
	since  time.Time // accepted, or idle since
	active bool      // serving a request
}

func newEvictingListener(ln net.Listener, max int) *evictingListener {
	return &evictingListener{Listener: ln, max: max, conns: map[net.Conn]*trackedConn{}}
}

// Accept accepts the next connection, making room for it first.
func (l *evictingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		var victim net.Conn
		if len(l.conns) >= l.max {
			victim = l.oldestWaiting()
			if victim == nil {
				l.mu.Unlock()
				_ = c.Close() // every slot serves a request
				continue
			}
			delete(l.conns, victim)
		}
		l.conns[c] = &trackedConn{since: time.Now()}
		l.mu.Unlock()
		if victim != nil {
			_ = victim.Close()
		}
		return c, nil
	}
}

// oldestWaiting is the longest-waiting connection not serving a request,
// or nil. l.mu is held.
func (l *evictingListener) oldestWaiting() net.Conn {
	var oldest net.Conn
	var at time.Time
	for c, t := range l.conns {
		if !t.active && (oldest == nil || t.since.Before(at)) {
			oldest, at = c, t.since
		}
	}
	return oldest
}

// connState is the http.Server's ConnState hook that keeps the table.
func (l *evictingListener) connState(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.conns[c]
	switch s {
	case http.StateActive:
		if ok {
			t.active = true
		}
	case http.StateIdle:
		if ok {
			t.active, t.since = false, time.Now()
		}
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
	}
}

// open is how many connections are tracked (tests).
func (l *evictingListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}
