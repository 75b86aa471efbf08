package vrrpstate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Proc is one process as /proc/PID/stat shows it.
type Proc struct {
	PID   int
	PPID  int
	Comm  string
	State byte // 'R', 'S', 'D', 'T' (stopped), 't' (traced), 'Z', ...
}

// Stopped reports whether the process is stopped (SIGSTOP) or traced.
func (p Proc) Stopped() bool { return p.State == 'T' || p.State == 't' }

// parseStat parses /proc/PID/stat. comm may contain spaces and ')', so the
// fields after it are found from the last ')'.
func parseStat(b []byte) (Proc, error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 1 || end < open {
		return Proc{}, fmt.Errorf("malformed stat %q", b)
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return Proc{}, fmt.Errorf("malformed stat pid: %w", err)
	}
	f := bytes.Fields(b[end+1:])
	if len(f) < 2 || len(f[0]) != 1 {
		return Proc{}, fmt.Errorf("malformed stat %q", b)
	}
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return Proc{}, fmt.Errorf("malformed stat ppid: %w", err)
	}
	return Proc{PID: pid, PPID: ppid, Comm: string(b[open+1 : end]), State: f[0][0]}, nil
}

// ProcTree returns pid and all its descendants from procRoot ("/proc").
func ProcTree(procRoot string, pid int) ([]Proc, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	children := map[int][]Proc{}
	var root *Proc
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		p, err := parseStat(b)
		if err != nil {
			continue
		}
		if n == pid {
			root = &p
		}
		children[p.PPID] = append(children[p.PPID], p)
	}
	if root == nil {
		return nil, fmt.Errorf("process %d not found", pid)
	}
	out := []Proc{*root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i].PID]...)
	}
	return out, nil
}
