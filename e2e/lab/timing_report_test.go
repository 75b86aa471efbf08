package lab

import (
	"strings"
	"testing"
	"time"
)

func TestSkew(t *testing.T) {
	for _, tc := range []struct {
		version, prio int
		advert        time.Duration
		want          time.Duration
	}{
		// The values keepalived-internals.md measured to the millisecond.
		{2, 100, time.Second, 609375 * time.Microsecond},
		{3, 100, 100 * time.Millisecond, 60937500},
		// VRRPv2 ignores the advert interval.
		{2, 100, 3 * time.Second, 609375 * time.Microsecond},
		{2, 255, time.Second, time.Second / 256},
	} {
		if got := Skew(tc.version, tc.prio, tc.advert); got != tc.want {
			t.Errorf("Skew(v%d, %d, %v) = %v, want %v", tc.version, tc.prio, tc.advert, got, tc.want)
		}
	}
	if got := MasterDown(100, 100*time.Millisecond); got != 300*time.Millisecond+60937500 {
		t.Errorf("MasterDown(100, 0.1s) = %v", got)
	}
}

func TestMedianWorst(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		in            []time.Duration
		median, worst time.Duration
	}{
		{nil, 0, 0},
		{ms(5), 5 * time.Millisecond, 5 * time.Millisecond},
		{ms(9, 1, 5), 5 * time.Millisecond, 9 * time.Millisecond},
		{ms(4, 1, 2, 3), 2500 * time.Microsecond, 4 * time.Millisecond},
	} {
		if got := Median(tc.in); got != tc.median {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.median)
		}
		if got := Worst(tc.in); got != tc.worst {
			t.Errorf("Worst(%v) = %v, want %v", tc.in, got, tc.worst)
		}
	}
}

func TestFormatTimingTable(t *testing.T) {
	rows := []TimingRow{
		{Scenario: "graceful stop", Advert: time.Second, Target: 700 * time.Millisecond, BoundFormula: "skew",
			Runs: []TimingRun{
				{Gap: 620 * time.Millisecond, Takeover: 611 * time.Millisecond, Bound: 609 * time.Millisecond, Probes: 100, Prio: 100},
				{Gap: 640 * time.Millisecond, Takeover: 612 * time.Millisecond, Bound: 609 * time.Millisecond, Probes: 100, Prio: 120},
			}},
		{Scenario: "node loss", Advert: 100 * time.Millisecond, Target: 400 * time.Millisecond,
			Runs: []TimingRun{{Gap: 450 * time.Millisecond, Takeover: 360 * time.Millisecond, Bound: 361 * time.Millisecond}}},
		{Scenario: "reload", Advert: time.Second, Runs: []TimingRun{{Gap: 30 * time.Millisecond, Probes: 500}}},
	}
	got := FormatTimingTable(rows)
	for _, want := range []string{
		"| graceful stop | 1 s | 2 | 0.630 s / 0.640 s | 0.612 s / 0.612 s | ≤ 0.609 s (skew) | 100–120 | 0 of 200 | ≤ 0.7 s | yes |",
		"| node loss | 0.1 s | 1 | 0.450 s / 0.450 s | 0.360 s / 0.360 s | ≤ 0.361 s | — | 0 of 0 | ≤ 0.4 s | **no** |",
		"| reload | 1 s | 1 | 0.030 s / 0.030 s | — | — | — | 0 of 500 | 0 lost probes | yes |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks\n%s\ngot:\n%s", want, got)
		}
	}
}

func TestVRRPVersion(t *testing.T) {
	for d, want := range map[time.Duration]int{time.Second: 2, 2 * time.Second: 2, 100 * time.Millisecond: 3, 1500 * time.Millisecond: 3} {
		if got := VRRPVersion(d); got != want {
			t.Errorf("VRRPVersion(%v) = %d, want %d", d, got, want)
		}
	}
}
