package supervisor

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
)

// maxLogLine caps a buffered partial line so a runaway writer without
// newlines cannot grow memory without bound.
const maxLogLine = 64 << 10

// consoleTimestamp matches the ctime-style prefix keepalived --log-console
// puts on every line ("Fri Nov 27 00:02:47 2026: "); the agent's logger adds
// its own time, so the prefix is noise.
var consoleTimestamp = regexp.MustCompile(`^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]?[0-9] \d{2}:\d{2}:\d{2} \d{4}: ?`)

// levelHints maps substrings of keepalived messages to log levels. keepalived
// does not print a severity on the console, so this is best-effort; the
// first match wins and everything else is Info.
var levelHints = []struct {
	substr string
	level  slog.Level
}{
	// The agent requests a JSON dump every few seconds for its metrics;
	// keepalived announces each one.
	{"printing vrrp as json", slog.LevelDebug},
	{"security violation", slog.LevelError},
	{"permanent error", slog.LevelError},
	{"error", slog.LevelError},
	{"warning", slog.LevelWarn},
	{"unknown keyword", slog.LevelWarn},
	{"unsafe permissions", slog.LevelWarn},
	{"not valid", slog.LevelWarn},
	{"truncating", slog.LevelWarn},
	{"died", slog.LevelWarn},
	{"failed", slog.LevelWarn},
}

// lineLogger is an io.Writer that turns keepalived's output into one slog
// record per line, with source=keepalived. onLine, if set, sees every
// message (timestamp stripped) and is used for readiness detection.
type lineLogger struct {
	log    *slog.Logger
	onLine func(msg string)

	mu  sync.Mutex
	buf []byte
}

func newLineLogger(log *slog.Logger, stream string, onLine func(string)) *lineLogger {
	return &lineLogger{log: log.With("source", "keepalived", "stream", stream), onLine: onLine}
}

// Write implements io.Writer; it never fails.
func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > maxLogLine {
		l.emit(l.buf)
		l.buf = l.buf[:0]
	}
	// Reclaim the consumed prefix so the backing array does not grow.
	if len(l.buf) == 0 {
		l.buf = nil
	}
	return len(p), nil
}

// Flush logs a trailing line that had no newline.
func (l *lineLogger) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = nil
	}
}

func (l *lineLogger) emit(line []byte) {
	msg := strings.TrimSpace(consoleTimestamp.ReplaceAllString(strings.TrimRight(string(line), "\r"), ""))
	if msg == "" {
		return
	}
	l.log.Log(context.Background(), keepalivedLevel(msg), msg)
	if l.onLine != nil {
		l.onLine(msg)
	}
}

func keepalivedLevel(msg string) slog.Level {
	lower := strings.ToLower(msg)
	for _, h := range levelHints {
		if strings.Contains(lower, h.substr) {
			return h.level
		}
	}
	return slog.LevelInfo
}
