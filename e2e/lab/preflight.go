package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// Preflight returns an error saying why labs cannot run here: not root, or
// one of the commands a lab or ipfailover needs is missing. Callers skip
// rather than fail on it.
func Preflight() error {
	var problems []string
	if os.Geteuid() != 0 {
		problems = append(problems, "not running as root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)")
	}
	for _, c := range []string{"ip", "unshare", "keepalived", "iptables", "sysctl"} {
		if _, err := exec.LookPath(c); err != nil {
			problems = append(problems, fmt.Sprintf("%s not found in PATH (install iproute2, util-linux, keepalived, iptables, procps)", c))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// Registry tracks live labs so that an interrupt handler can close them:
// a ^C kills a test binary without running its cleanups.
type Registry struct {
	mu   sync.Mutex
	labs map[*Lab]struct{}
}

// Add records a live lab.
func (r *Registry) Add(l *Lab) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.labs == nil {
		r.labs = map[*Lab]struct{}{}
	}
	r.labs[l] = struct{}{}
}

// Remove forgets a lab (after its Close).
func (r *Registry) Remove(l *Lab) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.labs, l)
}

// CloseAll closes every recorded lab.
func (r *Registry) CloseAll() error {
	r.mu.Lock()
	labs := r.labs
	r.labs = nil
	r.mu.Unlock()
	var errs []error
	for l := range labs {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}
