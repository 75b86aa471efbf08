package kube

import (
	"context"
	"log/slog"

	"k8s.io/klog/v2"
)

// RouteKlog sends client-go's logging (klog, a process-wide logger that
// writes to stderr by default) to logger, at Debug level only: client-go
// repeats the same error on every retry while the API server is away, and
// this package logs each change of reachability or permission once itself.
// Only V(0) and V(1) messages pass; the rest is client-go's tracing.
//
// klog is global: call RouteKlog once at start, before anything here runs.
func RouteKlog(logger *slog.Logger) {
	klog.SetSlogLogger(slog.New(klogHandler{logger.Handler().WithAttrs([]slog.Attr{slog.String("component", "client-go")})}))
}

type klogHandler struct{ h slog.Handler }

// logr's V(n) arrives as slog level -n; errors as slog.LevelError.
func verbose(l slog.Level) bool { return l < slog.LevelInfo-1 }

func (k klogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !verbose(l) && k.h.Enabled(ctx, slog.LevelDebug)
}

func (k klogHandler) Handle(ctx context.Context, r slog.Record) error {
	if verbose(r.Level) {
		return nil
	}
	r.Level = slog.LevelDebug
	return k.h.Handle(ctx, r)
}

func (k klogHandler) WithAttrs(as []slog.Attr) slog.Handler { return klogHandler{k.h.WithAttrs(as)} }
func (k klogHandler) WithGroup(name string) slog.Handler    { return klogHandler{k.h.WithGroup(name)} }
