// Package cli owns the command line's conventions: every command parses
// its flags with pflag (double-dash long flags, single-letter shorthands, as
// in the Kubernetes tools), answers --help/-h with its description, flags
// and an example on stdout (exit 0), and refuses an unknown flag or command
// with a "did you mean" suggestion (exit 2).
package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// Exit codes shared by every command (documented in the README).
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitInvalid = 2
)

// Command describes one subcommand for its help text.
type Command struct {
	Name    string // as typed after "ipfailover"
	Args    string // positional arguments in the usage line, e.g. "[NAME]"
	Summary string // one line
	Long    string // optional paragraphs after the summary
	Example string // one or more example command lines
	// Footer is printed after the flags (e.g. the environment table).
	Footer func(w io.Writer)
}

// NewFlagSet returns a flag set for c whose errors are returned, not
// printed, so Parse decides what the user sees.
func (c Command) NewFlagSet() *pflag.FlagSet {
	fs := pflag.NewFlagSet(c.Name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	return fs
}

// Help writes c's help text with the flags of fs.
func (c Command) Help(w io.Writer, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "%s\n\nusage: ipfailover %s", c.Summary, c.Name)
	if fs != nil && fs.HasFlags() {
		fmt.Fprint(w, " [flags]")
	}
	if c.Args != "" {
		fmt.Fprint(w, " "+c.Args)
	}
	fmt.Fprintln(w)
	if c.Long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.Long, "\n"))
	}
	if fs != nil && fs.HasFlags() {
		fmt.Fprintf(w, "\nflags:\n%s", fs.FlagUsages())
	}
	fmt.Fprintln(w, "  -h, --help   print this help")
	if c.Example != "" {
		fmt.Fprintf(w, "\nexample:\n%s\n", indent(strings.TrimRight(c.Example, "\n")))
	}
	if c.Footer != nil {
		fmt.Fprintln(w)
		c.Footer(w)
	}
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// Parse parses args with fs. It returns done == true when the command must
// end with code: after printing the help (0) or a syntax error with a
// suggestion (2).
func (c Command) Parse(fs *pflag.FlagSet, args []string, stdout, stderr io.Writer) (code int, done bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return ExitOK, false
	case errors.Is(err, pflag.ErrHelp):
		c.Help(stdout, fs)
		return ExitOK, true
	}
	msg := err.Error()
	if name, ok := unknownFlag(msg); ok {
		var names []string
		fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
		if s := Suggest(name, append(names, "help")); s != "" {
			msg += "; did you mean --" + s + "?"
		}
	}
	fmt.Fprintf(stderr, "ipfailover %s: %s\nRun 'ipfailover %s --help' for usage.\n", c.Name, msg, c.Name)
	return ExitInvalid, true
}

// unknownFlag extracts the flag name from pflag's "unknown flag: --name"
// and "unknown shorthand flag: 'x' in -x" errors.
func unknownFlag(msg string) (string, bool) {
	if rest, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
		name, _, _ := strings.Cut(rest, "=")
		return name, true
	}
	return "", false
}

// Suggest returns the candidate nearest to name in edit distance when it is
// near enough to be a plausible typo (about one edit in three, at least
// two), else "".
func Suggest(name string, candidates []string) string {
	if len(name) > 64 {
		return ""
	}
	best, bestDist := "", max(2, len(name)/3)+1
	for _, c := range candidates {
		if d := Distance(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// Distance is the Levenshtein edit distance between a and b, in bytes
// (command, flag and variable names are ASCII).
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
