package status

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ipfailover/ipfailover/statusapi"
)

// Print renders st as the terminal table `ipfailover status` prints.
func Print(w io.Writer, st statusapi.Status, now time.Time) {
	fmt.Fprintf(w, "ipfailover %q on %s (%s), agent %s\n", st.Name, st.Interface, st.NodeAddress, st.Version)
	health := "healthy"
	if !st.Healthy {
		health = "UNHEALTHY: " + st.HealthProblem
	}
	ready := "ready"
	if !st.Ready {
		ready = "NOT READY: " + st.ReadyProblem
	}
	fmt.Fprintf(w, "health:     %s; %s\n", health, ready)
	k := st.Keepalived
	if k.Running {
		fmt.Fprintf(w, "keepalived: running, pid %d, started %s, restarts %d", k.PID, statusapi.Ago(now, k.StartedAt), k.Restarts)
	} else {
		fmt.Fprintf(w, "keepalived: NOT RUNNING, restarts %d", k.Restarts)
	}
	if k.Problem != "" {
		fmt.Fprintf(w, " (%s)", k.Problem)
	}
	fmt.Fprintln(w)
	c := st.Config
	fmt.Fprintf(w, "config:     %s hash %s, last render %s %s", c.Path, orDash(c.Hash), orDash(c.LastResult), statusapi.Ago(now, c.LastReload))
	if c.LastError != "" {
		fmt.Fprintf(w, " (%s)", firstLine(c.LastError))
	}
	fmt.Fprintln(w)
	switch ch := st.Check; {
	case ch == nil:
		fmt.Fprintln(w, "check:      none configured")
	case !ch.Ran:
		fmt.Fprintf(w, "check:      %s: not run yet\n", ch.Command)
	case ch.OK:
		fmt.Fprintf(w, "check:      passing (%.3fs, %s): %s\n", ch.DurationSeconds, statusapi.Ago(now, ch.LastRun), ch.Command)
	default:
		fmt.Fprintf(w, "check:      FAILING, %s (%s): %s\n", ch.Result, statusapi.Ago(now, ch.LastRun), ch.Command)
	}
	if len(st.MulticastRules) == 0 {
		fmt.Fprintln(w, "multicast:  no rule managed")
	}
	for _, r := range st.MulticastRules {
		state := "present"
		if !r.Present {
			state = "MISSING"
			if r.Error != "" {
				state += " (" + r.Error + ")"
			}
		}
		fmt.Fprintf(w, "multicast:  %s rule in chain %s: %s\n", r.Family, r.Chain, state)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tVRID\tFAMILY\tSTATE\tPRIO\tVIPS\tSINCE\tREASON")
	for _, in := range st.Instances {
		state := in.State
		if statusapi.StateName(in.StateValue) != in.State {
			state += "?" // last known; keepalived is not up
		}
		prio := fmt.Sprint(in.Priority)
		if in.Priority != in.BasePriority {
			prio += fmt.Sprintf(" (%d)", in.BasePriority)
		}
		var vips []string
		for _, v := range in.VIPs {
			mark := ""
			if v.Present {
				mark = "*"
			}
			vips = append(vips, v.Address+mark)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", in.Name, in.VRID, in.Family, state, prio,
			strings.Join(vips, ","), strings.TrimSuffix(statusapi.Ago(now, in.LastTransition), " ago"), in.Reason)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\n* = VIP on this node's interface (read from the kernel); STATE? = last known, keepalived not up")
	for _, warn := range statusapi.Warnings(st) {
		fmt.Fprintln(w, "WARNING:", warn)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
