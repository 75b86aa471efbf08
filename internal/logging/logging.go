// Package logging builds the agent's slog logger from the two logging
// variables, OPENSHIFT_HA_LOG_FORMAT and OPENSHIFT_HA_LOG_LEVEL. They are
// read before the rest of the environment, so that even the environment's
// own warnings come out in the chosen format.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Variables read by New's callers.
const (
	FormatVar = "OPENSHIFT_HA_LOG_FORMAT"
	LevelVar  = "OPENSHIFT_HA_LOG_LEVEL"
)

// Formats and levels accepted, in the words of the messages.
const (
	acceptedFormats = "text or json"
	acceptedLevels  = "debug, info, warn or error"
)

// ParseLevel maps a level name ("" is info) to its slog level.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%s=%q: must be %s", LevelVar, s, acceptedLevels)
}

// New returns a logger writing to w in format ("" is text) at level. On a
// bad value it still returns a usable text logger at info, and the error
// naming the variable, so the caller can report it and exit 2.
func New(w io.Writer, format, level string) (*slog.Logger, error) {
	lvl, lerr := ParseLevel(level)
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(strings.TrimSpace(format)) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), lerr
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), lerr
	}
	return slog.New(slog.NewTextHandler(w, opts)), fmt.Errorf("%s=%q: must be %s", FormatVar, format, acceptedFormats)
}
