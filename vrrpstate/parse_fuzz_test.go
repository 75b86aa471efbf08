package vrrpstate

import (
	"strings"
	"testing"
)

// FuzzParseLine: whatever keepalived (or anything else) writes into the FIFO,
// the parser never panics, and an accepted line renders back to a line
// that parses to the same value. Seeds are in testdata/fuzz/FuzzParseLine.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		`INSTANCE "VI_1" MASTER 100`,
		`GROUP "G" BACKUP 0`,
		`INSTANCE "a b" MASTER_RX_LOWER_PRI 254`,
		`VS "x" UP`,
		`INSTANCE "VI" FAULT`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLine(s)
		if err != nil {
			return
		}
		if l.Name == "" || strings.ContainsAny(l.Name, "\n") && !strings.Contains(s, "\n") {
			t.Fatalf("ParseLine(%q) accepted an impossible name %q", s, l.Name)
		}
		if l.Priority < 0 || l.Priority > 255 {
			t.Fatalf("ParseLine(%q) priority %d", s, l.Priority)
		}
		if strings.Contains(l.Name, `"`) {
			return // keepalived never writes such names; no round trip promised
		}
		again, err := ParseLine(l.String())
		if err != nil || again != l {
			t.Fatalf("round trip of %q: %q -> %+v, %v (want %+v)", s, l.String(), again, err, l)
		}
	})
}
