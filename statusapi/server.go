package statusapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// checkBuckets cover a check that connects locally in a millisecond up to
// one that runs into keepalived's multi-second timeout.
var checkBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Limits of the HTTP server. The server answers kubelet probes on the host
// network, so anyone who can reach the node's port must not be able to
// starve the probes or burn the agent's CPU.
const (
	// DefaultMaxConns caps open connections; a new one displaces the
	// oldest that is not serving a request (see evictingListener).
	DefaultMaxConns = 32
	// DefaultConnTimeout bounds how long a connection may hold a slot
	// without completing a request's headers, and how long a kept-alive
	// connection may idle. It is what a flood of silent connections can
	// delay a probe by per wave of MaxConns connections, so it is short:
	// legitimate clients (kubelet, Prometheus) send their headers at once.
	DefaultConnTimeout = 3 * time.Second
	// maxHeaderBytes is far above what a probe or a scrape sends.
	maxHeaderBytes = 8 << 10
	// writeTimeout bounds writing one response, so a client that stops
	// reading cannot hold a slot; a scrape of this registry is a few KiB.
	writeTimeout = 10 * time.Second
	// scrapeCacheTTL is how long one gathered set of metrics serves
	// further scrapes: repeated /metrics requests cost one gather per TTL.
	scrapeCacheTTL = time.Second
	// maxScrapesInFlight bounds concurrent /metrics encodings; more get 503.
	maxScrapesInFlight = 4
)

// Options configure a Server.
type Options struct {
	// Addr is the listen address (OPENSHIFT_HA_METRICS_ADDRESS). The
	// default ":63000" (plus offset) binds every address of the node,
	// because the agent runs in the host network and kubelet probes and
	// Prometheus reach it on the node's IP. To restrict who can reach it,
	// set OPENSHIFT_HA_METRICS_ADDRESS to one address, e.g.
	// "127.0.0.1:63000" (then probes need host: 127.0.0.1 and nothing
	// off-node can scrape) or the node's internal IP, firewall the port,
	// or set the variable empty to serve nothing.
	Addr   string
	Source func() Status // called for every request and scrape
	Log    *slog.Logger
	// MaxConns caps concurrently served connections (default
	// DefaultMaxConns).
	MaxConns int
	// ConnTimeout bounds reading a request's headers and a kept-alive
	// connection's idle time (default DefaultConnTimeout); reading the
	// whole request is bounded by twice this.
	ConnTimeout time.Duration
}

// Server serves /metrics, /healthz, /readyz, /status, /segment and /.
type Server struct {
	o            Options
	reg          *prometheus.Registry
	checkDur     prometheus.Histogram
	ruleRestored *prometheus.CounterVec
	scrape       *cachedGatherer
	srv          *http.Server
	ln           net.Listener
}

// New builds the registry (agent metrics, Go runtime and process
// collectors) and the handlers. It does not listen yet.
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.ConnTimeout <= 0 {
		o.ConnTimeout = DefaultConnTimeout
	}
	s := &Server{o: o, reg: prometheus.NewRegistry()}
	s.scrape = &cachedGatherer{g: s.reg, ttl: scrapeCacheTTL, now: time.Now}
	s.checkDur = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "ipfailover_check_duration_seconds",
		Help:    "Duration of the health check runs made by the agent, including runs that failed or timed out.",
		Buckets: checkBuckets,
	})
	s.ruleRestored = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ipfailover_multicast_rule_restored_total",
		Help: "Times the agent found its multicast accept rule missing or displaced and inserted it again.",
	}, []string{"chain", "family"})
	s.reg.MustRegister(
		&collector{d: newDescs(), source: o.Source},
		s.checkDur,
		s.ruleRestored,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return s
}

// Registry is the server's own registry (tests lint it).
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Register adds a collector to the server's registry, for metrics computed
// outside this package (the segment view's wire.Collector).
func (s *Server) Register(c prometheus.Collector) error {
	if err := s.reg.Register(c); err != nil {
		return fmt.Errorf("metrics: register collector: %w", err)
	}
	return nil
}

// ObserveCheck records one health check run's duration.
func (s *Server) ObserveCheck(d time.Duration) { s.checkDur.Observe(d.Seconds()) }

// TrackRule exports ipfailover_multicast_rule_restored_total for a managed
// rule at 0, so the series exists (and rate() works) before the first
// restoration. family is "ipv4" or "ipv6".
func (s *Server) TrackRule(chain, family string) {
	s.ruleRestored.WithLabelValues(chain, family)
}

// ObserveRuleRestored counts one re-insertion of the multicast accept rule
// (iptables.Keeper's onRestore hook).
func (s *Server) ObserveRuleRestored(chain, family string) {
	s.ruleRestored.WithLabelValues(chain, family).Inc()
}

// Handler returns the HTTP routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.scrape, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(s.o.Log.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: maxScrapesInFlight,
		EnableOpenMetrics:   true,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		st := s.o.Source()
		probe(w, st.Healthy, st.HealthProblem)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		st := s.o.Source()
		probe(w, st.Ready, st.ReadyProblem)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s.o.Source()) // a failed write means the client left
	})
	mux.HandleFunc("GET /segment", func(w http.ResponseWriter, r *http.Request) {
		seg := s.o.Source().Segment
		if seg == nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintln(w, "no segment view: the agent is not listening to VRRP on the wire (it needs CAP_NET_RAW); see its log")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(seg) // a failed write means the client left
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := renderPage(w, s.o.Source()); err != nil {
			s.o.Log.Warn("status page failed", "err", err)
		}
	})
	return mux
}

// probe answers a health probe: 200 "ok" or 503 with the problem.
func probe(w http.ResponseWriter, ok bool, problem string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if ok {
		fmt.Fprintln(w, "ok")
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintln(w, problem)
}

// Start listens on Addr and serves in the background. A listen error (port
// taken, bad address) is returned, naming the variable that set it.
//
// Addr comes from OPENSHIFT_HA_METRICS_ADDRESS; its default binds every
// address of the node (see Options.Addr for how to restrict it). All
// clients together get at most MaxConns connections served at once, each
// dropped after ConnTimeout without complete headers or while idle,
// headers of at most 8 KiB, and /metrics answered from a gather at most
// one second old, so a flood of connections or scrapes can delay a probe
// by about ConnTimeout per wave of MaxConns connections but cannot stop it
// or use much CPU.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.o.Addr)
	if err != nil {
		return fmt.Errorf("metrics server (OPENSHIFT_HA_METRICS_ADDRESS=%q): %w", s.o.Addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.o.ConnTimeout,
		ReadTimeout:       2 * s.o.ConnTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       s.o.ConnTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.o.Log.Handler(), slog.LevelWarn),
	}
	limited := newEvictingListener(ln, s.o.MaxConns)
	s.srv.ConnState = limited.connState
	ln = limited
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.o.Log.Error("metrics server stopped", "err", err)
		}
	}()
	s.o.Log.Info("serving metrics, health and status", "address", ln.Addr().String(),
		"max_connections", s.o.MaxConns, "connection_timeout", s.o.ConnTimeout)
	return nil
}

// Addr is the address actually listened on (after Start).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops the server, waiting briefly for requests in flight.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		// Connections that never sent a request count as busy for a
		// while; they must not keep the port open.
		_ = s.srv.Close()
		return fmt.Errorf("metrics server shutdown: %w", err)
	}
	return nil
}

// cachedGatherer serialises gathers and reuses the result for ttl, so the
// cost of /metrics does not grow with the scrape rate. The returned
// families are shared between requests, which only read them.
type cachedGatherer struct {
	g   prometheus.Gatherer
	ttl time.Duration
	now func() time.Time

	mu  sync.Mutex
	at  time.Time
	mfs []*dto.MetricFamily
	err error
}

// Gather implements prometheus.Gatherer.
func (c *cachedGatherer) Gather() ([]*dto.MetricFamily, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.at.IsZero() || now.Sub(c.at) >= c.ttl || now.Before(c.at) {
		c.mfs, c.err = c.g.Gather()
		c.at = now
	}
	return c.mfs, c.err
}
