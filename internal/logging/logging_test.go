package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		format, level string
		wantErr       string
		json          bool
		debugShown    bool
		infoShown     bool
	}{
		{"", "", "", false, false, true},
		{"text", "debug", "", false, true, true},
		{"JSON", "warn", "", true, false, false},
		{"json", "error", "", true, false, false},
		{"yaml", "", FormatVar, false, false, true},
		{"", "loud", LevelVar, false, false, true},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		log, err := New(&b, tt.format, tt.level)
		if (err != nil) != (tt.wantErr != "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("New(%q, %q) error %v, want %q", tt.format, tt.level, err, tt.wantErr)
		}
		log.Debug("d")
		log.Info("i", "source", "keepalived")
		out := b.String()
		if got := strings.Contains(out, "msg=d") || strings.Contains(out, `"msg":"d"`); got != tt.debugShown {
			t.Errorf("%q/%q: debug shown %v:\n%s", tt.format, tt.level, got, out)
		}
		if got := strings.Contains(out, "msg=i") || strings.Contains(out, `"msg":"i"`); got != tt.infoShown {
			t.Errorf("%q/%q: info shown %v:\n%s", tt.format, tt.level, got, out)
		}
		if tt.json && out != "" {
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Errorf("not JSON: %q: %v", line, err)
				}
			}
		}
	}
}

// TestJSONLines parses JSON log lines as a log pipeline would: every
// record has time, level, msg and its attributes.
func TestJSONLines(t *testing.T) {
	var b bytes.Buffer
	log, err := New(&b, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	log.Warn("(ipfailover_VIP_1) Entering MASTER STATE", "source", "keepalived")
	var m struct {
		Time   string `json:"time"`
		Level  string `json:"level"`
		Msg    string `json:"msg"`
		Source string `json:"source"`
	}
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m.Time == "" || m.Level != slog.LevelWarn.String() || m.Msg != "(ipfailover_VIP_1) Entering MASTER STATE" || m.Source != "keepalived" {
		t.Errorf("record %+v", m)
	}
}
