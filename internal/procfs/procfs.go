// Package procfs owns the one reading of /proc/PID/stat the project needs:
// a process's PID, parent, command name and state, and the tree of
// processes below a given one. The agent uses it to find leftover or
// stopped keepalived processes, the e2e harness to count a node's zombies.
package procfs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Proc is one process as /proc/PID/stat shows it.
type Proc struct {
	PID   int    // PID as seen from the /proc that was read
	PPID  int    // parent PID
	Comm  string // command name (at most 15 bytes, as the kernel keeps it)
	State byte   // 'R', 'S', 'D', 'T' (stopped), 't' (traced), 'Z', 'X', ...
}

// Zombie reports whether the process has exited but was not reaped.
func (p Proc) Zombie() bool { return p.State == 'Z' }

// Stopped reports whether the process is stopped (SIGSTOP) or traced.
func (p Proc) Stopped() bool { return p.State == 'T' || p.State == 't' }

// Live reports whether the process still runs (neither zombie nor dead).
func (p Proc) Live() bool { return p.State != 'Z' && p.State != 'X' }

// ParseStat parses the start of /proc/PID/stat: "pid (comm) state ppid ...".
// comm may contain spaces and parentheses, so it ends at the last ')'.
func ParseStat(b []byte) (Proc, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return Proc{}, fmt.Errorf("parse stat %q: no (comm)", b)
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return Proc{}, fmt.Errorf("parse stat %q: pid: %w", b, err)
	}
	rest := bytes.Fields(b[closing+1:])
	if len(rest) < 2 || len(rest[0]) != 1 {
		return Proc{}, fmt.Errorf("parse stat %q: state and ppid missing", b)
	}
	ppid, err := strconv.Atoi(string(rest[1]))
	if err != nil {
		return Proc{}, fmt.Errorf("parse stat %q: ppid: %w", b, err)
	}
	return Proc{PID: pid, PPID: ppid, Comm: string(b[open+1 : closing]), State: rest[0][0]}, nil
}

// Read reads one process below procRoot (normally "/proc").
func Read(procRoot string, pid int) (Proc, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return Proc{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	return ParseStat(b)
}

// List reads every process below procRoot. Processes that exit while the
// directory is read are skipped.
func List(procRoot string) ([]Proc, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []Proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, err := Read(procRoot, pid)
		if err != nil {
			continue // exited meanwhile
		}
		out = append(out, p)
	}
	return out, nil
}

// Tree returns root and every process below it, root first, or nil when
// root is not among procs. In a PID namespace every process descends from
// the namespace's init, so the tree of a PID 1 is all of the namespace's
// processes, zombies included.
func Tree(procs []Proc, root int) []Proc {
	children := map[int][]Proc{}
	var out []Proc
	for _, p := range procs {
		children[p.PPID] = append(children[p.PPID], p)
		if p.PID == root {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil
	}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i].PID]...)
	}
	return out
}

// StoppedKeepalived returns the first keepalived process in procs that is
// stopped (SIGSTOP or traced): such a keepalived keeps its VIPs without
// advertising them. Other processes in keepalived's tree (scripts) do not
// count.
func StoppedKeepalived(procs []Proc) (Proc, bool) {
	for _, p := range procs {
		if strings.HasPrefix(p.Comm, "keepalived") && p.Stopped() {
			return p, true
		}
	}
	return Proc{}, false
}
