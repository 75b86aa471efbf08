package hostnet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Route flags from <linux/route.h>.
const (
	rtfUp     = 0x0001
	rtfReject = 0x0200
)

// DefaultRouteInterface returns the interface of the IPv4 default route read
// from <procRoot>/net/route, or, when there is none, of the IPv6 default route
// from <procRoot>/net/ipv6_route. Pass "/proc" in production.
//
// Among several default routes the one with the lowest metric wins, as in the
// kernel; on a tie the first listed wins. Routes that are down or reject
// (the kernel's "unreachable" IPv6 default on lo) are ignored.
func DefaultRouteInterface(procRoot string) (string, error) {
	v4Path := filepath.Join(procRoot, "net", "route")
	v6Path := filepath.Join(procRoot, "net", "ipv6_route")

	var errs []error
	if data, err := os.ReadFile(v4Path); err != nil {
		errs = append(errs, fmt.Errorf("read IPv4 routes: %w", err))
	} else if dev, err := defaultRouteV4(data); err != nil {
		errs = append(errs, fmt.Errorf("parse %s: %w", v4Path, err))
	} else if dev != "" {
		return dev, nil
	}
	if data, err := os.ReadFile(v6Path); err != nil {
		errs = append(errs, fmt.Errorf("read IPv6 routes: %w", err))
	} else if dev, err := defaultRouteV6(data); err != nil {
		errs = append(errs, fmt.Errorf("parse %s: %w", v6Path, err))
	} else if dev != "" {
		return dev, nil
	}
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("find default route interface: %w", err)
	}
	return "", fmt.Errorf("find default route interface: no default route in %s or %s", v4Path, v6Path)
}

// defaultRouteV4 parses /proc/net/route. Columns: Iface Destination Gateway
// Flags RefCnt Use Metric Mask MTU Window IRTT; addresses and flags are hex,
// the metric is decimal. It returns "" when there is no usable default route.
func defaultRouteV4(data []byte) (string, error) {
	best, bestMetric := "", uint64(0)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if n == 1 || len(f) == 0 {
			continue // header
		}
		if len(f) < 8 {
			return "", fmt.Errorf("line %d: %d fields, want at least 8", n, len(f))
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		flags, err2 := strconv.ParseUint(f[3], 16, 32)
		metric, err3 := strconv.ParseUint(f[6], 10, 32)
		mask, err4 := strconv.ParseUint(f[7], 16, 32)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return "", fmt.Errorf("line %d: %w", n, err)
		}
		if dst != 0 || mask != 0 || !usable(f[0], flags) {
			continue
		}
		if best == "" || metric < bestMetric {
			best, bestMetric = f[0], metric
		}
	}
	return best, sc.Err()
}

// defaultRouteV6 parses /proc/net/ipv6_route. Columns: destination,
// destination prefix length, source, source prefix length, next hop, metric,
// refcount, use, flags, device; all numbers are hex.
func defaultRouteV6(data []byte) (string, error) {
	best, bestMetric := "", uint64(0)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 10 {
			return "", fmt.Errorf("line %d: %d fields, want 10", n, len(f))
		}
		plen, err1 := strconv.ParseUint(f[1], 16, 8)
		metric, err2 := strconv.ParseUint(f[5], 16, 32)
		flags, err3 := strconv.ParseUint(f[8], 16, 32)
		if err := errors.Join(err1, err2, err3); err != nil {
			return "", fmt.Errorf("line %d: %w", n, err)
		}
		if strings.Trim(f[0], "0") != "" || plen != 0 || !usable(f[9], flags) {
			continue
		}
		if best == "" || metric < bestMetric {
			best, bestMetric = f[9], metric
		}
	}
	return best, sc.Err()
}

func usable(dev string, flags uint64) bool {
	return flags&rtfUp != 0 && flags&rtfReject == 0 && dev != "*" && dev != "lo"
}
