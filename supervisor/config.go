package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrConfigCheck marks a rendered configuration that `keepalived -t`
// rejected. Run returns an error wrapping it when the very first config is
// invalid, so the caller can exit non-zero before keepalived ever starts.
var ErrConfigCheck = errors.New("keepalived config check failed")

// configMode is the mode of the installed config. keepalived skips a config
// file with an exec bit, and the file holds auth_pass, but it is not secret
// from root on the node and 0644 matches what operators expect to read.
const configMode fs.FileMode = 0o644

// maxCheckOutput caps how much `keepalived -t` output goes into an error.
const maxCheckOutput = 4 << 10

// configStore writes keepalived's config file atomically, after checking it.
type configStore struct {
	path    string
	binary  string
	exec    Execer
	timeout time.Duration
}

// same reports whether data equals the installed file. A missing or
// unreadable file counts as different, so it gets (re)written.
func (c *configStore) same(data []byte) bool {
	cur, err := os.ReadFile(c.path)
	return err == nil && bytes.Equal(cur, data)
}

// fixMode resets the installed file's mode to 0644 if someone changed it;
// the bytes are untouched.
func (c *configStore) fixMode() error {
	st, err := os.Stat(c.path)
	if err != nil {
		return fmt.Errorf("stat keepalived config: %w", err)
	}
	if st.Mode().Perm() != configMode {
		if err := os.Chmod(c.path, configMode); err != nil {
			return fmt.Errorf("chmod keepalived config: %w", err)
		}
	}
	return nil
}

// check runs `keepalived -t -e -f file`. -e makes a missing file or include
// an error (keepalived -t otherwise exits 0 for it).
//
// A check cut short because ctx ended (the agent is stopping) says nothing
// about the config: it yields an error wrapping ctx.Err(), never
// ErrConfigCheck, so a SIGTERM during startup is not reported as a
// rejected config or a timeout.
func (c *configStore) check(ctx context.Context, file string) error {
	return checkFile(ctx, c.exec, c.binary, file, c.timeout)
}

func checkFile(parent context.Context, ex Execer, binary, file string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	out, err := ex.Output(ctx, binary, "-t", "-e", "-f", file)
	if err == nil {
		return nil
	}
	if parent.Err() != nil {
		return fmt.Errorf("%s -t interrupted: %w", binary, parent.Err())
	}
	detail := strings.TrimSpace(string(out))
	if len(detail) > maxCheckOutput {
		detail = detail[:maxCheckOutput] + "…"
	}
	if detail == "" {
		detail = "(no output)"
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %s -t timed out after %v: %s", ErrConfigCheck, binary, timeout, detail)
	}
	return fmt.Errorf("%w: %s -t -e -f %s: %v: %s", ErrConfigCheck, binary, file, err, detail)
}

// CheckConfig runs `keepalived -t` (binary) on conf before anything on the
// host changes, from a private temporary file. It returns nil when
// keepalived accepts conf, an error wrapping ErrConfigCheck when it rejects
// it or does not answer within timeout (0: DefaultCheckTimeout), and an
// error wrapping context.Canceled (or DeadlineExceeded) when ctx ended
// first: the caller is stopping and should exit 0, not report a bad config.
func CheckConfig(ctx context.Context, binary string, conf []byte, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	f, err := os.CreateTemp("", "ipfailover-preflight-*.conf")
	if err != nil {
		return fmt.Errorf("pre-flight config check: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(conf); err != nil {
		_ = f.Close()
		return fmt.Errorf("pre-flight config check: write %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("pre-flight config check: close %s: %w", f.Name(), err)
	}
	return checkFile(ctx, OSExecer{}, binary, f.Name(), timeout)
}

// install stages data next to the config file, checks the staged copy, and
// renames it into place. On any failure the installed file is untouched.
func (c *configStore) install(ctx context.Context, data []byte) (err error) {
	dir, base := filepath.Split(c.path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("stage keepalived config: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp) // best effort; the error being returned matters more
		}
	}()
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("write staged config %s: %w", tmp, err)
	}
	if err := f.Chmod(configMode); err != nil {
		_ = f.Close()
		return fmt.Errorf("chmod staged config %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync staged config %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close staged config %s: %w", tmp, err)
	}
	if err := c.check(ctx, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, c.path); err != nil {
		if !errors.Is(err, syscall.EBUSY) {
			return fmt.Errorf("install keepalived config %s: %w", c.path, err)
		}
		// The target is a bind mount (e.g. a subPath volume) and cannot be
		// replaced; overwrite it in place. Not atomic, but keepalived only
		// reads it on start and on our SIGHUP, both after this returns.
		if err := overwrite(c.path, data); err != nil {
			return err
		}
		_ = os.Remove(tmp)
		return nil
	}
	syncDir(dir)
	return nil
}

func overwrite(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, configMode)
	if err != nil {
		return fmt.Errorf("overwrite keepalived config %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("overwrite keepalived config %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync keepalived config %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close keepalived config %s: %w", path, err)
	}
	return nil
}

// syncDir makes the rename durable. Failure only weakens durability across
// a node crash, which a fresh render at start repairs, so it is ignored.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
