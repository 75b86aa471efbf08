package lab

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Proc is one process as seen from the host's /proc.
type Proc struct {
	PID   int    // host PID
	PPID  int    // host PID of the parent
	Comm  string // command name (at most 15 bytes, as the kernel keeps it)
	State byte   // 'R', 'S', 'Z', ...
}

// Zombie reports whether the process has exited but not been reaped.
func (p Proc) Zombie() bool { return p.State == 'Z' }

// parseStat parses the start of /proc/PID/stat: "pid (comm) state ppid ...".
// comm may contain spaces and parentheses, so it ends at the last ')'.
func parseStat(b []byte) (Proc, error) {
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

// readProcs lists every process under procRoot (normally "/proc").
// Processes that exit while being read are skipped.
func readProcs(procRoot string) ([]Proc, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []Proc
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "stat"))
		if err != nil {
			continue // gone
		}
		p, err := parseStat(b)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// descendants returns root and every process below it. In a PID namespace
// every process descends from the namespace's init (orphans are reparented
// to it or to a subreaper below it), so the descendants of a node's PID 1
// are exactly the node's processes, zombies included.
func descendants(procs []Proc, root int) []Proc {
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
