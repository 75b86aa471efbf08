package env

import (
	"fmt"
	"net"
	"net/netip"
	"path"
	"strings"
	"time"
	"unicode"
)

// Checkers for single values. Each returns "" when the value is acceptable,
// or a reason that says what is wrong and what is accepted.

// confUnsafe lists characters that must never reach keepalived.conf: '"'
// ends a quoted string, braces open and close blocks, '#' and '!' start
// comments, '\' escapes and '$' triggers keepalived's parameter
// substitution (`${_RANDOM}` is predefined).
const confUnsafe = "\"{}#!\\$"

const confUnsafeReason = `must be printable ASCII without quotes ("), braces ({ }), '#', '!', '$' or backslashes, which would break or inject into keepalived.conf`

// checkConfSafe rejects strings that could break out of their place in
// keepalived.conf.
func checkConfSafe(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || strings.IndexByte(confUnsafe, c) >= 0 {
			return confUnsafeReason
		}
	}
	return ""
}

// maxNameLen bounds OPENSHIFT_HA_CONFIG_NAME; instance names derived from it
// must stay readable in logs and metrics labels.
const maxNameLen = 128

func checkConfigName(s string) string {
	if len(s) > maxNameLen {
		return fmt.Sprintf("is %d characters long; at most %d are allowed", len(s), maxNameLen)
	}
	if r := checkConfSafe(s); r != "" {
		return r
	}
	// The name is also the VRRP PASS secret: keepalived took the first
	// word of the original's "auth_pass NAME" line, so a space is accepted
	// (the renderer writes only that word) but nothing else white.
	if strings.ContainsFunc(s, func(r rune) bool { return r != ' ' && unicode.IsSpace(r) }) {
		return "must not contain tabs or line breaks"
	}
	if strings.TrimSpace(s) != s {
		return "must not begin or end with a space"
	}
	// It is also the iptables rule comment, passed to iptables as one
	// argument: a quote there makes iptables-nft reject the rule.
	if strings.ContainsAny(s, "'`") {
		return "must not contain quotes (' or `): the name is also the iptables rule comment"
	}
	// router_id and instance names keep only letters, digits, '-' and '_'
	// of the name; something must be left.
	if !strings.ContainsFunc(s, func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
	}) {
		return "must contain at least one letter or digit"
	}
	return ""
}

// ifNameMax is the longest Linux interface name (IFNAMSIZ-1).
const ifNameMax = 15

// checkInterface applies the kernel's dev_valid_name rules (1..15 bytes,
// not "." or "..", no '/', ':' or white space) plus keepalived.conf safety.
func checkInterface(s string) string {
	const accepted = "must be a Linux interface name: 1 to 15 printable characters without '/', ':', white space, quotes, braces, '#', '!', '$' or backslashes, and not \".\" or \"..\""
	if len(s) > ifNameMax || s == "." || s == ".." || strings.ContainsAny(s, "/: ") || checkConfSafe(s) != "" {
		return accepted
	}
	return ""
}

// maxPathLen is PATH_MAX.
const maxPathLen = 4096

func isPathChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/._-+@:=,", c) >= 0
}

// checkAbsPath accepts absolute, clean paths to a file made of a
// conservative character set: such a path can be written unquoted into
// keepalived.conf and needs no shell quoting either.
// checkScriptArg checks one argument of a script command line. keepalived
// (and the agent) split the line on white space with no quoting, so quotes
// would reach the script literally; characters that are unsafe in
// keepalived.conf are refused too.
func checkScriptArg(s string) string {
	const accepted = "script arguments may contain letters, digits and / . _ - + @ : = , %; no quotes, braces, '#', '!', '\\' or control characters"
	if len(s) > maxPathLen {
		return accepted
	}
	for i := 0; i < len(s); i++ {
		if !isPathChar(s[i]) && s[i] != '%' {
			return accepted
		}
	}
	return ""
}

func checkAbsPath(s string) string {
	const accepted = "must be an absolute, clean path to a file (no '..', '//', '.' or trailing '/') made of letters, digits and / . _ - + @ : = ,"
	if !strings.HasPrefix(s, "/") || s == "/" || len(s) > maxPathLen || path.Clean(s) != s {
		return accepted
	}
	for i := 0; i < len(s); i++ {
		if !isPathChar(s[i]) {
			return accepted
		}
	}
	return ""
}

// checkHostname accepts an RFC 1123 host name without a trailing dot.
func checkHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkEmail accepts user@host where the user part is letters, digits and
// . _ % + = - (the RFC 5322 specials that keepalived.conf cannot carry are
// left out) and the host is a host name.
func checkEmail(s string) string {
	const accepted = "must be an email address user@host, with letters, digits and . _ % + = - in the user part and a host name after '@'"
	user, host, ok := strings.Cut(s, "@")
	if !ok || user == "" || len(user) > 64 || !checkHostname(host) {
		return accepted
	}
	for i := 0; i < len(user); i++ {
		c := user[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._%+=-", c) >= 0) {
			return accepted
		}
	}
	return ""
}

// parseIntRange parses a whole decimal number in [lo, hi]; surrounding
// white space is ignored.
func parseIntRange(s string, lo, hi int) (int, string) {
	n, ok := parseDecimal(strings.TrimSpace(s))
	if !ok || n < lo || n > hi {
		return 0, fmt.Sprintf("must be a whole number from %d to %d", lo, hi)
	}
	return n, ""
}

// parseBool accepts the spellings people use in YAML and shell.
func parseBool(s string) (bool, string) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes":
		return true, ""
	case "false", "0", "no":
		return false, ""
	}
	return false, "must be true, false, yes, no, 1 or 0 (any case)"
}

// maxPreemptDelay is keepalived's limit for preempt_delay.
const maxPreemptDelay = 1000

// parsePreemption accepts exactly the forms keepalived understands, instead
// of pasting the string into every instance as the original image did.
func parsePreemption(s string) (Preemption, string) {
	accepted := fmt.Sprintf("must be \"nopreempt\", \"preempt_delay N\" or \"preempt N\" with N a whole number of seconds from 0 to %d", maxPreemptDelay)
	f := strings.Fields(s)
	switch {
	case len(f) == 1 && f[0] == "nopreempt":
		return Preemption{NoPreempt: true}, ""
	case len(f) == 2 && (f[0] == "preempt_delay" || f[0] == "preempt"):
		n, ok := parseDecimal(f[1])
		if ok && n <= maxPreemptDelay {
			return Preemption{Delay: n}, ""
		}
	case len(f) >= 1 && f[0] == "preempt_nodelay":
		// The OpenShift documentation's typo for the default.
		return Preemption{}, accepted + " (preempt_nodelay is a typo in the OpenShift documentation; use preempt_delay)"
	}
	return Preemption{}, accepted
}

// parseAdvertInterval accepts whole seconds 1..255 (VRRPv2's 8-bit field)
// or a decimal with at most two places from 0.01 to 40.95 (VRRPv3's 12-bit
// centisecond field).
func parseAdvertInterval(s string) (time.Duration, string) {
	const accepted = "must be whole seconds from 1 to 255, or seconds with at most two decimals from 0.01 to 40.95 (VRRPv3)"
	s = strings.TrimSpace(s)
	whole, frac, isFrac := strings.Cut(s, ".")
	w, ok := parseDecimal(whole)
	if !ok {
		return 0, accepted
	}
	if !isFrac {
		if w < 1 || w > 255 {
			return 0, accepted
		}
		return time.Duration(w) * time.Second, ""
	}
	if len(frac) < 1 || len(frac) > 2 {
		return 0, accepted
	}
	f, ok := parseDecimal(frac)
	if !ok {
		return 0, accepted
	}
	if len(frac) == 1 {
		f *= 10
	}
	cs := w*100 + f
	if cs < 1 || cs > 4095 {
		return 0, accepted
	}
	return time.Duration(cs) * 10 * time.Millisecond, ""
}

// checkListenAddress accepts host:port with an empty host, an IP address
// or a host name, and a port from 1 to 65535.
func checkListenAddress(s string) string {
	const accepted = "must be host:port (\":9465\", \"127.0.0.1:9465\", \"[::1]:9465\") with a port from 1 to 65535"
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return accepted
	}
	if n, ok := parseDecimal(port); !ok || n < 1 || n > 65535 {
		return accepted
	}
	if host == "" || checkHostname(host) {
		return ""
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return accepted
	}
	return ""
}

// keepalivedOption describes one keepalived command-line option, as listed
// by `keepalived --help` (2.2.x).
type keepalivedOption struct {
	short  byte   // 0 when there is only a long form
	long   string // without "--"
	arg    bool   // takes a required argument
	reason string // non-empty: the option is rejected, and why
}

const (
	ownedByAgent = "is managed by the agent, which passes the configuration file and pid files itself"
	exitsAtOnce  = "makes keepalived do a one-off job and exit instead of running"
)

// keepalivedOptions is read-only data: every option keepalived 2.2 knows.
// Those with a reason are refused; the README lists the accepted ones.
var keepalivedOptions = []keepalivedOption{
	{'f', "use-file", true, ownedByAgent},
	{'p', "pid", true, ownedByAgent},
	{'r', "vrrp_pid", true, ownedByAgent},
	{'c', "checkers_pid", true, ownedByAgent},
	{'b', "bfd_pid", true, ownedByAgent},
	{'t', "config-test", false, exitsAtOnce},
	{'v', "version", false, exitsAtOnce},
	{'h', "help", false, exitsAtOnce},
	{'T', "genhash", false, exitsAtOnce},
	{0, "signum", true, exitsAtOnce},
	{'C', "check", false, "runs only the health checker, without VRRP, so no VIP would ever move"},
	{'n', "dont-fork", false, ""},
	{'P', "vrrp", false, ""},
	{'B', "no_bfd", false, ""},
	{0, "all", false, ""},
	{'l', "log-console", false, ""},
	{'D', "log-detail", false, ""},
	{'S', "log-facility", true, ""},
	{'G', "no-syslog", false, ""},
	{'u', "umask", true, ""},
	{'X', "release-vips", false, ""},
	{'V', "dont-release-vrrp", false, "would leave the VIPs on the node after keepalived stops, so a VIP could sit on two nodes"},
	{'I', "dont-release-ipvs", false, ""},
	{'R', "dont-respawn", false, "the agent restarts keepalived itself; without respawn a crashed VRRP child would leave keepalived running without VRRP"},
	{'d', "dump-conf", false, ""},
	{'a', "address-monitoring", false, ""},
	{'x', "snmp", false, "needs an SNMP master agent socket that the pod does not have; use the agent's metrics"},
	{'A', "snmp-agent-socket", true, "needs an SNMP master agent socket that the pod does not have; use the agent's metrics"},
	{'s', "namespace", true, "would run keepalived in another network namespace than the one the agent configures and watches"},
	{'m', "core-dump", false, ""},
	{'M', "core-dump-pattern", true, "changes the host kernel's core_pattern"},
	{'e', "all-config", false, ""},
	{'i', "config-id", true, "selects @id-prefixed configuration lines, which the agent's configuration does not use"},
}

// findLong resolves a long option the way getopt_long does: an exact name
// or an unambiguous prefix.
func findLong(name string) *keepalivedOption {
	var found *keepalivedOption
	for i := range keepalivedOptions {
		o := &keepalivedOptions[i]
		if o.long == name {
			return o
		}
		if strings.HasPrefix(o.long, name) {
			if found != nil {
				return nil // ambiguous: keepalived will complain itself
			}
			found = o
		}
	}
	return found
}

func findShort(c byte) *keepalivedOption {
	for i := range keepalivedOptions {
		if keepalivedOptions[i].short == c {
			return &keepalivedOptions[i]
		}
	}
	return nil
}

// optionProblem is one rejected KEEPALIVED_OPTIONS token.
type optionProblem struct{ token, reason string }

// parseKeepalivedOptions splits KEEPALIVED_OPTIONS on white space, rejects
// options that would fight the agent, and drops -n/--dont-fork, which the
// agent always passes. Unknown options pass through: a newer keepalived may
// know them.
func parseKeepalivedOptions(s string) ([]string, []optionProblem) {
	toks := strings.Fields(s)
	var out []string
	var bad []optionProblem
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if hasControl(t) {
			bad = append(bad, optionProblem{t, "contains a control character"})
			continue
		}
		var o *keepalivedOption
		takesNext := false
		switch {
		case t == "--" || !strings.HasPrefix(t, "-") || t == "-":
			out = append(out, t)
			continue
		case strings.HasPrefix(t, "--"):
			name, _, hasValue := strings.Cut(t[2:], "=")
			o = findLong(name)
			takesNext = o != nil && o.arg && !hasValue
		default:
			// Clustered short options: "-lD" is -l -D; an option that
			// takes an argument ends the cluster ("-f/x" or "-f /x").
			for j := 1; j < len(t); j++ {
				so := findShort(t[j])
				if so == nil {
					continue
				}
				if so.reason != "" || so.arg {
					o = so
					takesNext = so.arg && j == len(t)-1
					break
				}
				if len(t) == 2 {
					o = so
				}
			}
		}
		if o != nil && o.reason != "" {
			name := "--" + o.long
			if o.short != 0 {
				name = "-" + string(o.short) + "/" + name
			}
			bad = append(bad, optionProblem{t, fmt.Sprintf("keepalived option %s %s; remove it", name, o.reason)})
			if takesNext {
				i++
			}
			continue
		}
		if o != nil && o.long == "dont-fork" {
			continue
		}
		out = append(out, t)
		if takesNext && i+1 < len(toks) {
			i++
			out = append(out, toks[i])
		}
	}
	return out, bad
}
