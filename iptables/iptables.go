// Package iptables owns the one firewall rule the agent installs: an ACCEPT
// for VRRP multicast (224.0.0.18 for IPv4, ff02::12 for IPv6) at the top of a
// configured chain of the filter table.
//
// The rule carries a per-configuration comment (its Tag), so that two
// ipfailover configurations on one node, and the cleanup command, only ever
// touch their own rule. Unlike the shell implementation it replaces, this
// package looks only at the configured chain (a 224.0.0.18 rule in some other
// chain, or a DROP, no longer suppresses the insert), reads its work back,
// removes its rule reliably, and never loads or unloads kernel modules.
package iptables

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	goipt "github.com/coreos/go-iptables/iptables"
)

// filterTable is the only table the agent writes to: VRRP adverts are
// locally delivered multicast, which the filter table's INPUT path decides on.
const filterTable = "filter"

// VRRP multicast groups (RFC 5798 section 5.1.1.2 and 5.1.2.2), written the
// way iptables prints them back so that listed rules compare equal.
const (
	VRRPGroupIPv4 = "224.0.0.18/32"
	VRRPGroupIPv6 = "ff02::12/128"
)

// lockWaitSeconds bounds how long one iptables call waits for the xtables
// lock. go-iptables waits forever by default, which would hang agent startup
// behind a stuck kube-proxy or firewalld.
const lockWaitSeconds = 10

// Limits from the kernel's xtables ABI: chain names are at most
// XT_EXTENSION_MAXNAMELEN-1 bytes and comments at most XT_MAX_COMMENT_LEN-1.
const (
	maxChainLen   = 28
	maxCommentLen = 255
)

// ErrNoChain reports that the configured chain does not exist in the filter
// table. The agent creates no chains of its own, so this is a configuration
// error; callers map it to a distinct exit status.
var ErrNoChain = errors.New("chain does not exist")

// Table is the small part of github.com/coreos/go-iptables that this package
// needs. It exists so the rule logic can be tested without root or netfilter;
// *goipt.IPTables satisfies it as is.
type Table interface {
	// ChainExists reports whether chain exists in table.
	ChainExists(table, chain string) (bool, error)
	// List returns the chain in iptables -S form: policy or -N lines first,
	// then one "-A CHAIN ..." line per rule in rule order.
	List(table, chain string) ([]string, error)
	// Insert inserts a rule at 1-based position pos.
	Insert(table, chain string, pos int, rulespec ...string) error
	// Delete deletes the first rule that matches rulespec exactly.
	Delete(table, chain string, rulespec ...string) error
}

// New returns a Table backed by the iptables (ipv6 false) or ip6tables
// (ipv6 true) binary found in PATH. go-iptables detects the binary's backend
// (nf_tables or legacy) from its version output.
func New(ipv6 bool) (Table, error) {
	proto := goipt.ProtocolIPv4
	if ipv6 {
		proto = goipt.ProtocolIPv6
	}
	t, err := goipt.New(goipt.IPFamily(proto), goipt.Timeout(lockWaitSeconds))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", binaryName(ipv6), err)
	}
	return t, nil
}

// Rule identifies one configuration's VRRP accept rule.
type Rule struct {
	// Chain is the filter-table chain that gets the rule, e.g. "INPUT".
	Chain string
	// IPv6 selects ip6tables and the ff02::12 group instead of 224.0.0.18.
	IPv6 bool
	// Tag is the rule's comment. It must be unique per configuration on a
	// node (see TagFor), because Ensure and Remove treat every rule carrying
	// it as their own.
	Tag string
}

// TagFor returns the conventional Tag for the configuration named
// configName: "ipfailover <configName> vrrp".
func TagFor(configName string) string {
	return "ipfailover " + configName + " vrrp"
}

// Spec returns the rule specification as passed to iptables after the chain
// name, e.g. -d 224.0.0.18/32 -m comment --comment "ipfailover a vrrp" -j ACCEPT.
// The argument order is the one iptables -S prints, so listed rules can be
// compared word by word.
func (r Rule) Spec() []string {
	return vrrpSpec(r.IPv6, r.Tag)
}

func vrrpSpec(ipv6 bool, comment string) []string {
	group := VRRPGroupIPv4
	if ipv6 {
		group = VRRPGroupIPv6
	}
	return []string{"-d", group, "-m", "comment", "--comment", comment, "-j", "ACCEPT"}
}

func (r Rule) binary() string { return binaryName(r.IPv6) }

func binaryName(ipv6 bool) string {
	if ipv6 {
		return "ip6tables"
	}
	return "iptables"
}

// validate rejects values that iptables would refuse or that could not be
// matched reliably when the chain is listed back.
func (r Rule) validate() error {
	if err := ValidChain(r.Chain); err != nil {
		return fmt.Errorf("iptables rule: %w", err)
	}
	switch {
	case r.Tag == "":
		return errors.New("iptables rule: tag (rule comment) is empty; a per-configuration tag is required")
	case len(r.Tag) > maxCommentLen:
		return fmt.Errorf("iptables rule: tag %q is %d bytes; at most %d are accepted", r.Tag, len(r.Tag), maxCommentLen)
	case strings.IndexFunc(r.Tag, notPrintableText) >= 0:
		return fmt.Errorf("iptables rule: tag %q is invalid; accepted are printable ASCII characters and spaces, without quotes or backslashes", r.Tag)
	}
	return nil
}

// chainAccepted is what ValidChain's errors say is accepted.
const chainAccepted = "accepted are 1 to 28 characters from A-Z, a-z, 0-9, '_', '.' and '-', not starting with '-'"

// ValidChain reports whether name can be passed to iptables as a chain name
// and listed back unambiguously. iptables itself allows more (any printable
// character but a few), but a leading '-' reads as an option, whitespace
// splits the word, and quotes or shell metacharacters make the name an
// injection vector in every script that handles it; the conservative set
// covers all built-in and customary chain names. The error names the value
// and what is accepted; the caller adds the variable that set it
// (OPENSHIFT_HA_IPTABLES_CHAIN).
func ValidChain(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("chain name is empty; %s (a filter-table chain such as INPUT)", chainAccepted)
	case len(name) > maxChainLen:
		return fmt.Errorf("chain name %q is invalid: %d bytes; %s", name, len(name), chainAccepted)
	case name[0] == '-':
		return fmt.Errorf("chain name %q is invalid: it would be read as an option; %s", name, chainAccepted)
	}
	if i := strings.IndexFunc(name, notChainChar); i >= 0 {
		c, _ := utf8.DecodeRuneInString(name[i:])
		return fmt.Errorf("chain name %q is invalid: character %q at byte %d; %s", name, c, i, chainAccepted)
	}
	return nil
}

func notChainChar(c rune) bool {
	return (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '.' && c != '-'
}

func notPrintableWord(c rune) bool {
	return c <= ' ' || c > '~' || c == '"' || c == '\'' || c == '\\'
}

func notPrintableText(c rune) bool {
	return c != ' ' && notPrintableWord(c)
}

// Ensure makes the chain hold exactly one copy of r, with no rule other than
// VRRP accept rules in front of it. When the chain is already in that state
// Ensure writes nothing, so it is idempotent across restarts.
//
// In every other case (missing, not first, duplicated, or a rule carrying the
// tag with a different specification) it deletes every rule carrying the tag
// and inserts a fresh one at position 1, then reads the chain back and fails
// unless the result is right. Rules of other configurations are left alone;
// they may sit in front of r because they accept the same multicast traffic,
// which stops two configurations on one node from pushing each other down.
//
// A chain that does not exist yields an error wrapping ErrNoChain.
func Ensure(t Table, r Rule) error {
	if err := r.validate(); err != nil {
		return err
	}
	st, err := inspect(t, r)
	if err != nil {
		return err
	}
	if st.ok() {
		return nil
	}
	// Delete first, then insert: deleting by specification removes the
	// first match, so deleting after the insert would remove the fresh rule.
	// The gap is a few milliseconds at startup, before keepalived speaks VRRP.
	if err := deleteTagged(t, r, st.tagged); err != nil {
		return err
	}
	if err := t.Insert(filterTable, r.Chain, 1, r.Spec()...); err != nil {
		return fmt.Errorf("%s: insert VRRP accept rule %q at position 1 of chain %s: %w", r.binary(), r.Tag, r.Chain, err)
	}
	st, err = inspect(t, r)
	if err != nil {
		return fmt.Errorf("read back after insert: %w", err)
	}
	if !st.ok() {
		return fmt.Errorf("%s: read back chain %s after insert: %s; expected exactly one rule %q at the top", r.binary(), r.Chain, st.describe(), strings.Join(r.Spec(), " "))
	}
	return nil
}

// Remove deletes every rule in r.Chain that carries r.Tag. A missing rule or
// a missing chain is not an error, so cleanup can run any number of times.
func Remove(t Table, r Rule) error {
	if err := r.validate(); err != nil {
		return err
	}
	st, err := inspect(t, r)
	if errors.Is(err, ErrNoChain) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(st.tagged) == 0 {
		return nil
	}
	if err := deleteTagged(t, r, st.tagged); err != nil {
		return err
	}
	st, err = inspect(t, r)
	if err != nil {
		return fmt.Errorf("read back after delete: %w", err)
	}
	if len(st.tagged) > 0 {
		return fmt.Errorf("%s: read back chain %s after delete: %s; expected none", r.binary(), r.Chain, st.describe())
	}
	return nil
}

// Present reports whether r is in place the way Ensure leaves it: exactly one
// copy, with nothing but VRRP accept rules in front of it. A rule that exists
// but sits behind other rules does not count, because a DROP in front of it
// would make it useless. A missing chain returns false and an error wrapping
// ErrNoChain.
func Present(t Table, r Rule) (bool, error) {
	if err := r.validate(); err != nil {
		return false, err
	}
	st, err := inspect(t, r)
	if err != nil {
		return false, err
	}
	return st.ok(), nil
}

// taggedRule is a listed rule that carries the configuration's tag.
type taggedRule struct {
	pos  int      // 1-based rule number in the chain
	spec []string // rulespec as listed, without "-A CHAIN"
}

// chainState is what inspect learned about one chain.
type chainState struct {
	want   []string
	tagged []taggedRule
	// vrrpPrefix is the number of leading rules that accept the same VRRP
	// group, whatever their comment; our rule may sit anywhere among them.
	vrrpPrefix int
}

// ok reports whether the chain is in the state Ensure establishes.
func (s chainState) ok() bool {
	return len(s.tagged) == 1 &&
		slices.Equal(s.tagged[0].spec, s.want) &&
		s.tagged[0].pos <= s.vrrpPrefix
}

// describe summarises the tagged rules for error messages.
func (s chainState) describe() string {
	if len(s.tagged) == 0 {
		return "no rule carries the tag"
	}
	parts := make([]string, 0, len(s.tagged))
	for _, tr := range s.tagged {
		parts = append(parts, fmt.Sprintf("#%d %q", tr.pos, strings.Join(tr.spec, " ")))
	}
	return fmt.Sprintf("%d tagged rule(s): %s", len(s.tagged), strings.Join(parts, ", "))
}

// inspect lists only r.Chain (never the whole table: rules elsewhere must not
// influence the decision) and finds the rules carrying r.Tag.
func inspect(t Table, r Rule) (chainState, error) {
	exists, err := t.ChainExists(filterTable, r.Chain)
	if err != nil {
		return chainState{}, fmt.Errorf("%s: check chain %s: %w", r.binary(), r.Chain, err)
	}
	if !exists {
		return chainState{}, fmt.Errorf("%s: chain %q in table %s: %w", r.binary(), r.Chain, filterTable, ErrNoChain)
	}
	lines, err := t.List(filterTable, r.Chain)
	if err != nil {
		return chainState{}, fmt.Errorf("%s: list chain %s: %w", r.binary(), r.Chain, err)
	}
	st := chainState{want: r.Spec()}
	pos := 0
	inPrefix := true
	for _, line := range lines {
		if !strings.HasPrefix(line, "-A ") {
			continue // policy (-P) or chain (-N) line
		}
		pos++
		words, err := splitRule(line)
		if err != nil {
			return chainState{}, fmt.Errorf("%s: parse rule #%d of chain %s: %w", r.binary(), pos, r.Chain, err)
		}
		if len(words) < 2 || words[1] != r.Chain {
			return chainState{}, fmt.Errorf("%s: rule #%d of chain %s lists as %q, not as part of that chain", r.binary(), pos, r.Chain, line)
		}
		spec := words[2:]
		comment, hasComment := commentOf(spec)
		if hasComment && comment == r.Tag {
			st.tagged = append(st.tagged, taggedRule{pos: pos, spec: spec})
		}
		if inPrefix && isVRRPAccept(spec, r.IPv6) {
			st.vrrpPrefix = pos
		} else {
			inPrefix = false
		}
	}
	return st, nil
}

// isVRRPAccept reports whether spec is a plain ACCEPT of the VRRP group,
// either ours, another configuration's, or the untagged rule the shell
// implementation inserted. Such rules in front of ours do no harm.
func isVRRPAccept(spec []string, ipv6 bool) bool {
	if comment, ok := commentOf(spec); ok {
		return slices.Equal(spec, vrrpSpec(ipv6, comment))
	}
	group := VRRPGroupIPv4
	if ipv6 {
		group = VRRPGroupIPv6
	}
	return slices.Equal(spec, []string{"-d", group, "-j", "ACCEPT"})
}

// commentOf returns the argument of the first --comment option in spec.
func commentOf(spec []string) (string, bool) {
	i := slices.Index(spec, "--comment")
	if i < 0 || i+1 >= len(spec) {
		return "", false
	}
	return spec[i+1], true
}

// deleteTagged deletes the given rules by their listed specification rather
// than by number, so a concurrent writer (kube-proxy, firewalld) shifting rule
// numbers cannot make us delete someone else's rule. A rule that vanished in
// the meantime is fine.
func deleteTagged(t Table, r Rule, rules []taggedRule) error {
	for _, tr := range rules {
		err := t.Delete(filterTable, r.Chain, tr.spec...)
		if err != nil && !isNotExist(err) {
			return fmt.Errorf("%s: delete rule #%d %q from chain %s: %w", r.binary(), tr.pos, strings.Join(tr.spec, " "), r.Chain, err)
		}
	}
	return nil
}

// isNotExist recognises go-iptables' "rule or chain does not exist" errors
// (and any other error type offering the same method).
func isNotExist(err error) bool {
	var ne interface{ IsNotExist() bool }
	return errors.As(err, &ne) && ne.IsNotExist()
}

// splitRule splits one line of iptables -S output into words. iptables quotes
// words containing spaces with double quotes and escapes quotes and
// backslashes inside them with a backslash.
func splitRule(line string) ([]string, error) {
	var (
		words   []string
		cur     strings.Builder
		inWord  bool
		quoted  bool
		escaped bool
	)
	for _, c := range line {
		switch {
		case escaped:
			cur.WriteRune(c)
			escaped = false
		case c == '\\':
			escaped, inWord = true, true
		case c == '"':
			quoted, inWord = !quoted, true
		case (c == ' ' || c == '\t') && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if quoted || escaped {
		return nil, fmt.Errorf("unterminated quote or escape in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
