package lab

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Skew is VRRP's skew time for a backup of priority prio: how long it waits
// after a priority-0 advert, and what it adds to three silent advert
// intervals before it takes over. VRRPv2 (RFC 3768) counts it in whole
// seconds whatever the advert interval; VRRPv3 (RFC 5798) scales it with
// the master's advert interval.
func Skew(version, prio int, advert time.Duration) time.Duration {
	if version == 3 {
		return time.Duration(256-prio) * advert / 256
	}
	return time.Duration(256-prio) * time.Second / 256
}

// VRRPVersion is the protocol version the agent renders for IPv4 instances
// at this advert interval: VRRPv3 for a fraction of a second (VRRPv2 would
// round it), VRRPv2 otherwise.
func VRRPVersion(advert time.Duration) int {
	if advert%time.Second != 0 {
		return 3
	}
	return 2
}

// MasterDown is how long a backup of priority prio waits for a silent
// master: three advert intervals plus the skew.
func MasterDown(prio int, advert time.Duration) time.Duration {
	return 3*advert + Skew(VRRPVersion(advert), prio, advert)
}

// TimingRun is one measured failover (or reload).
type TimingRun struct {
	Gap      time.Duration // longest time between successful client probes
	Takeover time.Duration // fault injection to the VIPs present on the new node; 0: not applicable
	Lost     int           // failed client probes
	Probes   int           // client probes in total
	Bound    time.Duration // the protocol's bound for this run; 0: not applicable
	// Prio is the lowest priority among the nodes that took over (it
	// sets the skew, hence the bound); 0: not applicable.
	Prio int
}

// TimingRow is one scenario at one advert interval over several runs.
type TimingRow struct {
	Scenario string
	Advert   time.Duration
	Runs     []TimingRun
	// Target is the README's promise for the client gap and the time to a
	// new master; 0 means the target is "no lost probe" instead.
	Target time.Duration
	// BoundFormula explains the bound column, e.g. "3 × advert + skew".
	BoundFormula string
	Note         string
}

// durations picks one duration per run.
func (r TimingRow) durations(f func(TimingRun) time.Duration) []time.Duration {
	out := make([]time.Duration, 0, len(r.Runs))
	for _, run := range r.Runs {
		out = append(out, f(run))
	}
	return out
}

// Median returns the median (the mean of the middle two for an even count).
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Worst returns the largest duration.
func Worst(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return slices.Max(ds)
}

// Lost sums the failed probes of every run.
func (r TimingRow) Lost() (lost, probes int) {
	for _, run := range r.Runs {
		lost += run.Lost
		probes += run.Probes
	}
	return lost, probes
}

// Met reports whether every run kept the row's target: the client gap and
// the time to a new master within Target, or no lost probe when Target is 0.
func (r TimingRow) Met() bool {
	if len(r.Runs) == 0 {
		return false
	}
	if r.Target == 0 {
		lost, _ := r.Lost()
		return lost == 0
	}
	return Worst(r.durations(func(x TimingRun) time.Duration { return x.Gap })) <= r.Target &&
		Worst(r.durations(func(x TimingRun) time.Duration { return x.Takeover })) <= r.Target
}

// FormatTimingTable renders rows as a Markdown table: per scenario and
// advert interval the median and worst client gap and time to a new
// master, the protocol's bound, the target and whether it was met.
func FormatTimingTable(rows []TimingRow) string {
	var b strings.Builder
	b.WriteString("| scenario | advert | runs | client gap median / worst | new master median / worst | protocol bound | new master's priority | lost probes | target | met |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		gaps := r.durations(func(x TimingRun) time.Duration { return x.Gap })
		tk := r.durations(func(x TimingRun) time.Duration { return x.Takeover })
		bounds := r.durations(func(x TimingRun) time.Duration { return x.Bound })
		takeover := "—"
		if Worst(tk) > 0 {
			takeover = fmt.Sprintf("%s / %s", Seconds(Median(tk)), Seconds(Worst(tk)))
		}
		bound := "—"
		if Worst(bounds) > 0 {
			bound = "≤ " + Seconds(Worst(bounds))
			if r.BoundFormula != "" {
				bound += " (" + r.BoundFormula + ")"
			}
		}
		target := "0 lost probes"
		if r.Target > 0 {
			target = "≤ " + Seconds(r.Target)
		}
		met := "yes"
		if !r.Met() {
			met = "**no**"
		}
		if r.Note != "" {
			met += " (" + r.Note + ")"
		}
		prio := "—"
		if lo, hi := r.prioRange(); lo > 0 {
			prio = fmt.Sprintf("%d–%d", lo, hi)
			if lo == hi {
				prio = fmt.Sprint(lo)
			}
		}
		lost, probes := r.Lost()
		fmt.Fprintf(&b, "| %s | %s | %d | %s / %s | %s | %s | %s | %d of %d | %s | %s |\n",
			r.Scenario, Seconds(r.Advert), len(r.Runs), Seconds(Median(gaps)), Seconds(Worst(gaps)),
			takeover, bound, prio, lost, probes, target, met)
	}
	return b.String()
}

// prioRange is the lowest and highest Prio over the runs (0, 0: none).
func (r TimingRow) prioRange() (lo, hi int) {
	for _, run := range r.Runs {
		if run.Prio <= 0 {
			continue
		}
		if lo == 0 || run.Prio < lo {
			lo = run.Prio
		}
		hi = max(hi, run.Prio)
	}
	return lo, hi
}

// Seconds formats d as seconds with millisecond precision ("0.610 s"),
// or whole/tenth seconds for round values ("1 s", "0.1 s").
func Seconds(d time.Duration) string {
	switch {
	case d%time.Second == 0:
		return fmt.Sprintf("%d s", d/time.Second)
	case d%(100*time.Millisecond) == 0:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%.3f s", d.Seconds())
}
