package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// LockedError reports that another agent holds the lock of this
// configuration: two agents would fight over one keepalived.conf, one set
// of VIPs and one multicast rule.
type LockedError struct {
	Path string
	PID  int // the holder as it recorded itself; 0 if unknown
}

func (e *LockedError) Error() string {
	holder := "another ipfailover agent"
	if e.PID > 0 {
		holder = fmt.Sprintf("another ipfailover agent (pid %d)", e.PID)
	}
	return fmt.Sprintf("%s already runs this configuration on this node (lock %s is held); "+
		"stop it first, or give this one its own OPENSHIFT_HA_CONFIG_NAME", holder, e.Path)
}

// Lock takes an exclusive, non-blocking flock on the file at path (created
// 0600; a symbolic link is refused) and records the agent's pid in it. A
// second taker, in another process or through another open of the file,
// gets a *LockedError naming the holder's pid. release drops the lock; the
// kernel drops it too when the process dies, so a crashed agent never
// blocks its successor. The file is left in place: removing it would let
// a third agent lock a new file while the second still holds the old one.
func Lock(path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("lock %s: it is a symbolic link; remove it", path)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: it is not a regular file (%v); remove it", path, st.Mode().Type())
	}
	if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &LockedError{Path: path, PID: holderPID(f)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// The pid is only informative; a failure to record it keeps the lock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = flock(f, unix.LOCK_UN)
			_ = f.Close()
		})
	}, nil
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// holderPID reads the pid the lock holder recorded (0 if none).
func holderPID(f *os.File) int {
	b, err := io.ReadAll(io.LimitReader(f, 32))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
