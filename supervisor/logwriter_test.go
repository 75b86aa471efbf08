package supervisor

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
)

// recordHandler keeps the records it receives.
type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
	attrs   []slog.Attr
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	r = r.Clone()
	r.AddAttrs(h.attrs...)
	h.records = append(h.records, r)
	return nil
}
func (h *recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &recordHandler{attrs: append(slices.Clone(h.attrs), as...)}
}
func (h *recordHandler) WithGroup(string) slog.Handler { return h }

func TestLineLogger(t *testing.T) {
	tests := []struct {
		name      string
		writes    []string
		wantMsgs  []string
		wantLevel []slog.Level
	}{
		{
			name:      "timestamp stripped, one record per line",
			writes:    []string{"Fri Nov 27 00:02:47 2026: Starting Keepalived v2.2.7 (01/16,2022)\nThu Jan  4 10:00:00 2024: Startup complete\n"},
			wantMsgs:  []string{"Starting Keepalived v2.2.7 (01/16,2022)", "Startup complete"},
			wantLevel: []slog.Level{slog.LevelInfo, slog.LevelInfo},
		},
		{
			name:      "partial writes are joined",
			writes:    []string{"Fri Nov 27 00:02:47 2026: (VI_1) Ent", "ering MASTER STATE\n", "tail without newline"},
			wantMsgs:  []string{"(VI_1) Entering MASTER STATE", "tail without newline"},
			wantLevel: []slog.Level{slog.LevelInfo, slog.LevelInfo},
		},
		{
			name:      "continuation lines and blanks",
			writes:    []string{"Fri Nov 27 00:02:47 2026:               '/tmp/k.pid' '-r'\n\n\r\n"},
			wantMsgs:  []string{"'/tmp/k.pid' '-r'"},
			wantLevel: []slog.Level{slog.LevelInfo},
		},
		{
			name: "levels",
			writes: []string{"SECURITY VIOLATION - scripts are being executed but script_security not enabled.\n" +
				"WARNING - interface eth9 for vrrp_instance VI_1 doesn't exist\n" +
				"pid 4723 exited with permanent error CONFIG. Terminating\n" +
				"(k.conf: Line 15) Unknown keyword 'bogus'\n"},
			wantMsgs:  nil,
			wantLevel: []slog.Level{slog.LevelError, slog.LevelWarn, slog.LevelError, slog.LevelWarn},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var seen []string
			l := newLineLogger(slog.New(&recordHandler{}), "stderr", func(m string) { seen = append(seen, m) })
			for _, w := range tc.writes {
				if _, err := io.WriteString(l, w); err != nil {
					t.Fatal(err)
				}
			}
			l.Flush()
			// newLineLogger adds attributes, which yields a derived handler.
			recs := l.log.Handler().(*recordHandler).records
			var msgs []string
			var levels []slog.Level
			for _, r := range recs {
				msgs = append(msgs, r.Message)
				levels = append(levels, r.Level)
				attrs := map[string]string{}
				r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
				if attrs["source"] != "keepalived" || attrs["stream"] != "stderr" {
					t.Errorf("record %q attrs %v", r.Message, attrs)
				}
			}
			if tc.wantMsgs != nil && !slices.Equal(msgs, tc.wantMsgs) {
				t.Errorf("messages %q, want %q", msgs, tc.wantMsgs)
			}
			if !slices.Equal(levels, tc.wantLevel) {
				t.Errorf("levels %v, want %v", levels, tc.wantLevel)
			}
			if !slices.Equal(seen, msgs) {
				t.Errorf("onLine saw %q, want %q", seen, msgs)
			}
		})
	}
}
