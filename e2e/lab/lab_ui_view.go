package lab

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// This file is the model and the text rendering of the live lab
// (e2e/cmd/lab): pure functions over snapshots, so the screen can be
// tested without root or a terminal.

// NodeView is what the live lab shows about one node.
type NodeView struct {
	Name    string
	Addr    netip.Addr
	LinkUp  bool
	Service bool   // the node's name service (the watched TCP port) is up
	Agent   string // "running", "stopped", "stopping", "starting"
	// States maps a VIP to the node's state for the instance carrying it,
	// e.g. "MASTER 243"; missing when the agent cannot be asked.
	States map[netip.Addr]string
	Err    string // why the states are missing
}

// VIPView is one VIP row.
type VIPView struct {
	VIP     netip.Addr
	VRID    int
	Holders []string // nodes with the VIP on eth0 (kernel view)
	Client  string   // node that answered the client's last probe, "" on failure
	ClientE string   // the failure, when Client is ""
}

// LabView is one screen of the live lab.
type LabView struct {
	Title  string
	Now    time.Time
	Nodes  []NodeView
	VIPs   []VIPView
	Events []string
	Help   []string
	Color  bool // ANSI colours (interactive terminal only)
}

// Served reports whether every VIP is on exactly one node and the client's
// last probe was answered by that node, and if not, why.
func (v LabView) Served() (bool, string) {
	var bad []string
	for _, r := range v.VIPs {
		switch {
		case len(r.Holders) != 1:
			bad = append(bad, fmt.Sprintf("%s held by %d nodes %v", r.VIP, len(r.Holders), r.Holders))
		case r.Client != r.Holders[0]:
			bad = append(bad, fmt.Sprintf("%s held by %s but the client got %q %s", r.VIP, r.Holders[0], r.Client, r.ClientE))
		}
	}
	if len(v.VIPs) == 0 {
		bad = append(bad, "no VIPs")
	}
	return len(bad) == 0, strings.Join(bad, "; ")
}

const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiDim   = "\x1b[2m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiYel   = "\x1b[33m"
)

// Render draws the view as plain text lines (ANSI colours when v.Color).
// Lines end in "\n"; the caller positions the cursor.
func (v LabView) Render() string {
	var b strings.Builder
	paint := func(code, s string) string {
		if !v.Color || code == "" {
			return s
		}
		return code + s + ansiReset
	}
	pad := func(s string, w int) string {
		if n := len([]rune(s)); n < w {
			return s + strings.Repeat(" ", w-n)
		}
		return s
	}
	cell := func(code, s string, w int) string { return paint(code, pad(s, w)) }

	fmt.Fprintf(&b, "%s   %s\n\n", paint(ansiBold, v.Title), v.Now.Format("15:04:05"))
	// VIP table.
	const wVIP, wVRID, wHold, wNode, wClient = 15, 5, 10, 12, 10
	b.WriteString(pad("VIP", wVIP) + pad("VRID", wVRID) + pad("holder", wHold))
	for _, n := range v.Nodes {
		b.WriteString(pad(n.Name, wNode))
	}
	b.WriteString("client\n")
	for _, r := range v.VIPs {
		b.WriteString(pad(r.VIP.String(), wVIP))
		vrid := ""
		if r.VRID > 0 {
			vrid = fmt.Sprint(r.VRID)
		}
		b.WriteString(pad(vrid, wVRID))
		switch len(r.Holders) {
		case 0:
			b.WriteString(cell(ansiRed, "none", wHold))
		case 1:
			b.WriteString(cell(ansiBold, r.Holders[0], wHold))
		default:
			b.WriteString(cell(ansiRed, strings.Join(r.Holders, "+"), wHold))
		}
		for _, n := range v.Nodes {
			s, ok := n.States[r.VIP]
			if !ok {
				b.WriteString(cell(ansiDim, "-", wNode))
				continue
			}
			b.WriteString(cell(stateColour(s), s, wNode))
		}
		if r.Client == "" {
			b.WriteString(paint(ansiRed, "FAIL"))
		} else {
			b.WriteString(paint(ansiGreen, r.Client))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	// Node lines.
	for _, n := range v.Nodes {
		link, svc := paint(ansiGreen, "up  "), paint(ansiGreen, "up  ")
		if !n.LinkUp {
			link = paint(ansiRed, "DOWN")
		}
		if !n.Service {
			svc = paint(ansiRed, "DOWN")
		}
		agent := n.Agent
		if agent != "running" {
			agent = paint(ansiYel, agent)
		}
		fmt.Fprintf(&b, "%-4s %-15s link %s  service %s  agent %s", n.Name, n.Addr, link, svc, agent)
		if n.Err != "" && n.Agent == "running" {
			b.WriteString(paint(ansiDim, "  ("+truncate(n.Err, 60)+")"))
		}
		b.WriteString("\n")
	}
	if len(v.Help) > 0 {
		b.WriteString("\n")
		for _, h := range v.Help {
			b.WriteString(paint(ansiDim, h) + "\n")
		}
	}
	b.WriteString("\nevents:\n")
	for _, e := range v.Events {
		b.WriteString("  " + e + "\n")
	}
	return b.String()
}

func stateColour(s string) string {
	switch {
	case strings.HasPrefix(s, "MASTER"):
		return ansiGreen
	case strings.HasPrefix(s, "FAULT"), strings.HasPrefix(s, "STOP"):
		return ansiRed
	case strings.HasPrefix(s, "BACKUP"):
		return ""
	}
	return ansiYel
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// ClientTrack follows the client's probes of one VIP and turns them into
// events: the first answer, the start of an outage, and the answer after
// it (with the gap the client saw and whether the VIP moved).
type ClientTrack struct {
	VIP       netip.Addr
	lastOK    time.Time
	lastNode  string
	failing   bool
	lastError string
}

// Observe records one probe started at at. node is the answering node, ""
// on failure (err says why). It returns the event to log, or "".
func (c *ClientTrack) Observe(at time.Time, node string, err error) string {
	if node == "" {
		if err != nil {
			c.lastError = err.Error()
		}
		if c.failing || c.lastNode == "" {
			c.failing = true
			return ""
		}
		c.failing = true
		return fmt.Sprintf("%s VIP %s: no answer (was %s)", stamp(at), c.VIP, c.lastNode)
	}
	var ev string
	gap := at.Sub(c.lastOK)
	switch {
	case c.lastNode == "":
		ev = fmt.Sprintf("%s VIP %s served by %s", stamp(at), c.VIP, node)
	case node != c.lastNode:
		ev = fmt.Sprintf("%s VIP %s moved %s -> %s (gap %.2f s)", stamp(at), c.VIP, c.lastNode, node, gap.Seconds())
	case c.failing:
		ev = fmt.Sprintf("%s VIP %s back on %s (gap %.2f s)", stamp(at), c.VIP, node, gap.Seconds())
	}
	c.lastOK, c.lastNode, c.failing = at, node, false
	return ev
}

// StateChanges compares a node's instance states before and after and
// returns one event per kind of change, e.g.
// "12:00:01.234 n1: MASTER -> FAULT for 192.0.2.200, 192.0.2.204".
// States are compared by their first word (the priority may change).
func StateChanges(at time.Time, node string, before, after map[netip.Addr]string) []string {
	word := func(s string) string {
		if f := strings.Fields(s); len(f) > 0 {
			return f[0]
		}
		return "-"
	}
	byChange := map[string][]netip.Addr{}
	var keys []string
	seen := map[netip.Addr]bool{}
	var all []netip.Addr
	for _, m := range []map[netip.Addr]string{before, after} {
		for v := range m {
			if !seen[v] {
				seen[v] = true
				all = append(all, v)
			}
		}
	}
	slices.SortFunc(all, func(a, b netip.Addr) int { return a.Compare(b) })
	for _, v := range all {
		b, ok1 := before[v]
		a, ok2 := after[v]
		from, to := word(b), word(a)
		if !ok1 {
			from = "-"
		}
		if !ok2 {
			to = "-"
		}
		if from == to {
			continue
		}
		k := from + " -> " + to
		if _, ok := byChange[k]; !ok {
			keys = append(keys, k)
		}
		byChange[k] = append(byChange[k], v)
	}
	var out []string
	for _, k := range keys {
		vs := make([]string, len(byChange[k]))
		for i, v := range byChange[k] {
			vs[i] = v.String()
		}
		out = append(out, fmt.Sprintf("%s %s: %s for %s", stamp(at), node, k, strings.Join(vs, ", ")))
	}
	return out
}

// stamp formats an event time.
func stamp(t time.Time) string { return t.Format("15:04:05.000") }

// Stamp is the event timestamp format of the live lab, for events the
// program itself logs (key presses).
func Stamp(t time.Time) string { return stamp(t) }
