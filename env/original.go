package env

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// This file models what the original keepalived-ipfailover image's shell
// scripts make of the same environment, so the agent can tell at start when
// a rolling update from the original would put old and new pods into
// different VRRP elections (and a VIP on two nodes). It reimplements the
// documented behaviour of the scripts, bugs included, from their
// specification; it is data for comparison only, never used for serving.
//
// The model is checked against the original's measured renders
// (testdata/original-renders.json).

// OriginalInstance is one vrrp_instance as the original image rendered it.
type OriginalInstance struct {
	VRID int
	// Family is the family keepalived served: that of the first listed VIP
	// (keepalived ignores addresses of the other family in an instance).
	Family Family
	Listed []netip.Addr // every VIP written into the instance
	Served []netip.Addr // the VIPs of Family, which keepalived serves
}

// OriginalInstances returns the original image's instances for the raw
// environment vars (offset is OPENSHIFT_HA_VRRP_ID_OFFSET as this agent
// parsed it; both default it the same way).
func OriginalInstances(vars map[string]string, offset int) []OriginalInstance {
	vips := originalExpand(vars[varVIPs])
	groups, _ := strconv.Atoi(strings.TrimSpace(vars[varGroups]))
	// The original compared VRIDs as strings against the white-space
	// separated words of HA_EXCLUDED_VRRP_IDS only.
	excluded := strings.Fields(vars[varExclOld])

	n := len(vips)
	per, extra := 1, 0
	if groups > 0 {
		per, extra = n/groups, n%groups
	}
	var out []OriginalInstance
	for start, iid := 0, 1; start < n; iid++ {
		size := per
		if extra > 0 {
			size++
			extra--
		}
		if size <= 0 {
			break
		}
		end := min(start+size, n)
		for slices.Contains(excluded, strconv.Itoa(offset+iid)) {
			offset++
		}
		in := OriginalInstance{VRID: offset + iid}
		for _, s := range vips[start:end] {
			a, err := netip.ParseAddr(s)
			if err != nil {
				// keepalived rejects the address; nothing is served.
				continue
			}
			if len(in.Listed) == 0 {
				in.Family = FamilyOf(a)
			}
			in.Listed = append(in.Listed, a)
			if FamilyOf(a) == in.Family {
				in.Served = append(in.Served, a)
			}
		}
		out = append(out, in)
		start = end
	}
	return out
}

var (
	origV4Shape = regexp.MustCompile(`^([0-2]?[0-9]{1,2}\.){3}([0-2]?[0-9]{1,2})$`)
	origV6Group = `[[:xdigit:]]{1,4}`
	origV6Full  = regexp.MustCompile(`^(` + origV6Group + `:){7}(` + origV6Group + `)$`)
	origV6Lead  = regexp.MustCompile(`^::(` + origV6Group + `:){0,6}(` + origV6Group + `)$`)
	origV6Mid   = regexp.MustCompile(`^(` + origV6Group + `:){0,6}:(` + origV6Group + `:){0,6}(` + origV6Group + `)$`)
	origV6Valid = regexp.MustCompile(`^(` + origV6Group + `:+){1,6}(` + origV6Group + `)$`)
	origDrop    = regexp.MustCompile(`[^0-9a-fA-F:.,-]`)
)

// originalExpand models the original's VIP list expansion: every character
// outside [0-9a-fA-F:.,-] is deleted first (white space included, which
// glues space-separated entries together), commas separate entries, and a
// range is "start-end" where only end's last field counts.
func originalExpand(value string) []string {
	var out []string
	for _, tok := range strings.Fields(strings.ReplaceAll(origDrop.ReplaceAllString(value, ""), ",", " ")) {
		fields := strings.Split(tok, "-")
		ip1, ip2 := fields[0], ""
		if len(fields) > 1 {
			ip2 = fields[1]
		}
		switch {
		case origIsV4(ip1):
			out = append(out, origRangeV4(ip1, ip2)...)
		case origIsV6(ip1):
			out = append(out, origRangeV6(ip1, ip2)...)
		}
	}
	return out
}

func origIsV4(s string) bool {
	if !origV4Shape.MatchString(s) {
		return false
	}
	for _, o := range strings.Split(s, ".") {
		if n, _ := strconv.Atoi(o); n > 255 {
			return false
		}
	}
	return true
}

func origIsV6(s string) bool {
	return origV6Full.MatchString(s) || origV6Lead.MatchString(s) ||
		(origV6Mid.MatchString(s) && origV6Valid.MatchString(s))
}

func lastField(s, sep string) string {
	return s[strings.LastIndex(s, sep)+len(sep):]
}

func origRangeV4(ip1, ip2 string) []string {
	if ip2 == "" {
		return []string{ip1}
	}
	base := ip1[:strings.LastIndex(ip1, ".")]
	start, err1 := strconv.Atoi(lastField(ip1, "."))
	end, err2 := strconv.Atoi(lastField(ip2, "."))
	if err1 != nil || err2 != nil {
		return nil
	}
	var out []string
	for n := start; n <= end; n++ {
		out = append(out, fmt.Sprintf("%s.%d", base, n))
	}
	return out
}

func origRangeV6(ip1, ip2 string) []string {
	if ip2 == "" {
		return []string{ip1}
	}
	start := lastField(ip1, ":")
	base := strings.TrimSuffix(ip1, start)
	// The hex fields went through bc with ibase=16, which reads only
	// upper-case digits: a lower-case word is a variable (0), anything
	// else a syntax error (no value).
	from, okFrom := bcHex(start)
	to, okTo := bcHex(ip2)
	switch {
	case okFrom && okTo:
	case okTo: // "seq END"
		from = 1
	case okFrom:
		from, to = 1, from
	default:
		return nil
	}
	var out []string
	for n := from; n <= to; n++ {
		out = append(out, base+strings.ToUpper(strconv.FormatInt(n, 16)))
	}
	return out
}

var bcIdent = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func bcHex(s string) (int64, bool) {
	if bcIdent.MatchString(s) {
		return 0, true
	}
	if s == "" || strings.ToUpper(s) != s {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 16, 64)
	return n, err == nil
}

// compatWarnings compares c's groups with the original image's and warns
// when a rolling update from the original would put a VIP into different
// elections on old and new pods.
func compatWarnings(c Config, vars map[string]string) []Warning {
	if len(c.Groups) == 0 {
		return nil
	}
	orig := OriginalInstances(vars, c.VRIDOffset)
	ours := map[int]map[Family][]netip.Addr{}
	served := map[netip.Addr]bool{}
	for _, g := range c.Groups {
		m := map[Family][]netip.Addr{}
		for _, v := range g.VIPs {
			m[v.Family()] = append(m[v.Family()], v.Addr())
		}
		ours[g.VRID] = m
	}
	var diffs []string
	for _, o := range orig {
		for _, a := range o.Served {
			served[a] = true
		}
		if len(o.Served) == 0 {
			continue
		}
		if got := ours[o.VRID][o.Family]; !sameAddrs(got, o.Served) {
			diffs = append(diffs, fmt.Sprintf("VRID %d %s: original %s, here %s", o.VRID, o.Family, addrList(o.Served), addrList(got)))
		}
	}
	var extra []netip.Addr
	for _, v := range c.VIPs {
		if !served[v.Addr()] {
			extra = append(extra, v.Addr())
		}
	}
	if len(diffs) == 0 && len(extra) == 0 {
		return nil
	}
	variable, cause := varVIPs, "the original image's parser expanded OPENSHIFT_HA_VIRTUAL_IPS differently (it deletes spaces, mis-expands lower-case IPv6 ranges and drops /prefix entries)"
	if slices.Equal(originalExpandedAddrs(vars[varVIPs]), vipAddrs(c.VIPs)) {
		if len(diffs) == 0 {
			// Same VIPs, same VRIDs: only extra VIPs of a second family
			// in mixed groups, which old pods never served.
			return nil
		}
		variable, cause = varExclOld, "the original image honoured only white-space separated HA_EXCLUDED_VRRP_IDS (commas and OPENSHIFT_HA_EXCLUDED_VRRP_IDS excluded nothing there)"
	}
	msg := "VRRP groups differ from the original keepalived-ipfailover image's for this environment: " + cause
	if len(diffs) > 0 {
		shown := diffs[:min(len(diffs), 3)]
		msg += "; " + strings.Join(shown, "; ")
		if len(diffs) > len(shown) {
			msg += fmt.Sprintf("; and %d more", len(diffs)-len(shown))
		}
	}
	if len(extra) > 0 {
		msg += fmt.Sprintf("; %d VIP(s) the original did not serve, first %s", len(extra), extra[0])
	}
	msg += ". Old and new pods must not run side by side: roll out with strategy Recreate or a new OPENSHIFT_HA_VRRP_ID_OFFSET (docs/migration.md)"
	return []Warning{{Variable: variable, Message: msg}}
}

func originalExpandedAddrs(value string) []netip.Addr {
	var out []netip.Addr
	for _, s := range originalExpand(value) {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a)
		}
	}
	return out
}

func vipAddrs(vs []VIP) []netip.Addr {
	out := make([]netip.Addr, len(vs))
	for i, v := range vs {
		out[i] = v.Addr()
	}
	return out
}

// sameAddrs compares as sets: keepalived checks every address of an advert
// against its own list, regardless of order.
func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func addrList(as []netip.Addr) string {
	if len(as) == 0 {
		return "none"
	}
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	if len(s) > 4 {
		return "[" + strings.Join(s[:4], " ") + fmt.Sprintf(" ... %d in all]", len(s))
	}
	return "[" + strings.Join(s, " ") + "]"
}
