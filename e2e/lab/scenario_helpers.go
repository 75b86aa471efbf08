package lab

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// This file holds additive helpers of the failover scenario suite: reading a
// node's private files, talking HTTP inside a node's namespace, parsing the
// rendered keepalived.conf and sampling process resource usage.

// ReadFile reads path as the node's PID 1 sees it, through
// /proc/PID/root, so files on the node's private tmpfs mounts (such as
// /etc/keepalived/keepalived.conf) are reachable from the host.
func (n *Node) ReadFile(path string) ([]byte, error) {
	pid := n.PID1()
	if pid == 0 {
		return nil, fmt.Errorf("read %s on %s: node never started", path, n.Name)
	}
	b, err := os.ReadFile(filepath.Join(fmt.Sprintf("/proc/%d/root", pid), path))
	if err != nil {
		return nil, fmt.Errorf("read %s on %s: %w", path, n.Name, err)
	}
	return b, nil
}

// HTTPGet fetches url with a connection made inside the node's network
// namespace (so 127.0.0.1 is the node's loopback) and returns the status
// code and body.
func (n *Node) HTTPGet(ctx context.Context, url string, timeout time.Duration) (int, []byte, error) {
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := inNetns(n.NS, func() error {
				var d net.Dialer
				var err error
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s on %s: %w", url, n.Name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("GET %s on %s: read body: %w", url, n.Name, err)
	}
	return resp.StatusCode, b, nil
}

// ConfInstance is one vrrp_instance of a rendered keepalived.conf, reduced
// to what the scenarios reason about.
type ConfInstance struct {
	Name     string
	VRID     int
	Priority int
	VIPs     []netip.Addr
}

// ParseInstances extracts the vrrp_instance blocks of a keepalived.conf in
// file order. It understands the layout the agent renders (one keyword per
// line), not keepalived's full grammar.
func ParseInstances(conf []byte) ([]ConfInstance, error) {
	var out []ConfInstance
	var cur *ConfInstance
	inVIPs := false
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], "!") {
			continue
		}
		switch {
		case f[0] == "vrrp_instance" && len(f) >= 2:
			out = append(out, ConfInstance{Name: f[1]})
			cur = &out[len(out)-1]
			inVIPs = false
		case cur == nil:
		case inVIPs && f[0] == "}":
			inVIPs = false
		case inVIPs:
			p, err := netip.ParsePrefix(f[0])
			if err != nil {
				a, aerr := netip.ParseAddr(f[0])
				if aerr != nil {
					return nil, fmt.Errorf("instance %s: VIP %q: %w", cur.Name, f[0], err)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			cur.VIPs = append(cur.VIPs, p.Addr())
		case f[0] == "virtual_ipaddress":
			inVIPs = true
		case f[0] == "virtual_router_id" && len(f) >= 2:
			v, err := strconv.Atoi(f[1])
			if err != nil {
				return nil, fmt.Errorf("instance %s: virtual_router_id %q: %w", cur.Name, f[1], err)
			}
			cur.VRID = v
		case f[0] == "priority" && len(f) >= 2:
			v, err := strconv.Atoi(f[1])
			if err != nil {
				return nil, fmt.Errorf("instance %s: priority %q: %w", cur.Name, f[1], err)
			}
			cur.Priority = v
		}
	}
	return out, sc.Err()
}

// Usage is a process's cumulative CPU time and current resident memory.
type Usage struct {
	CPU   time.Duration // utime + stime
	RSSKB int           // VmRSS in KiB
}

// userHZ is the unit of the times in /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture the tests run on).
const userHZ = 100

// ProcUsage reads a host PID's CPU time and resident memory from /proc.
func ProcUsage(pid int) (Usage, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Usage{}, err
	}
	closing := bytes.LastIndexByte(b, ')')
	if closing < 0 {
		return Usage{}, fmt.Errorf("parse /proc/%d/stat: no (comm)", pid)
	}
	// Fields after the comm start at field 3 (state); utime and stime are
	// fields 14 and 15.
	rest := strings.Fields(string(b[closing+1:]))
	if len(rest) < 13 {
		return Usage{}, fmt.Errorf("parse /proc/%d/stat: %d fields after comm", pid, len(rest))
	}
	ut, err1 := strconv.ParseUint(rest[11], 10, 64)
	st, err2 := strconv.ParseUint(rest[12], 10, 64)
	if err1 != nil || err2 != nil {
		return Usage{}, fmt.Errorf("parse /proc/%d/stat: utime %q stime %q", pid, rest[11], rest[12])
	}
	u := Usage{CPU: time.Duration(ut+st) * time.Second / userHZ}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Usage{}, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				u.RSSKB, _ = strconv.Atoi(f[0])
			}
		}
	}
	return u, nil
}
