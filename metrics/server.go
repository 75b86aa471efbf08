package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// checkBuckets cover a check that connects locally in a millisecond up to
// one that runs into keepalived's multi-second timeout.
var checkBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Options configure a Server.
type Options struct {
	Addr   string        // listen address, e.g. ":63000"
	Source func() Status // called for every request and scrape
	Log    *slog.Logger
}

// Server serves /metrics, /healthz, /readyz, /status and /.
type Server struct {
	o        Options
	reg      *prometheus.Registry
	checkDur prometheus.Histogram
	srv      *http.Server
	ln       net.Listener
}

// New builds the registry (agent metrics, Go runtime and process
// collectors) and the handlers. It does not listen yet.
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{o: o, reg: prometheus.NewRegistry()}
	s.checkDur = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "ipfailover_check_duration_seconds",
		Help:    "Duration of the health check runs made by the agent, including runs that failed or timed out.",
		Buckets: checkBuckets,
	})
	s.reg.MustRegister(
		&collector{d: newDescs(), source: o.Source},
		s.checkDur,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return s
}

// Registry is the server's own registry (tests lint it).
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// ObserveCheck records one health check run's duration.
func (s *Server) ObserveCheck(d time.Duration) { s.checkDur.Observe(d.Seconds()) }

// Handler returns the HTTP routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(s.o.Log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
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
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.o.Addr)
	if err != nil {
		return fmt.Errorf("metrics server (OPENSHIFT_HA_METRICS_ADDRESS=%q): %w", s.o.Addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.o.Log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.o.Log.Error("metrics server stopped", "err", err)
		}
	}()
	s.o.Log.Info("serving metrics, health and status", "address", ln.Addr().String())
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
	return s.srv.Shutdown(ctx)
}
