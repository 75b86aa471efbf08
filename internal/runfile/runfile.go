// Package runfile reads and writes the small files of the agent's private
// run directory (the health check result keepalived tracks, keepalived's
// JSON dump) without following symlinks, so that a link planted there
// cannot make the agent read or write elsewhere.
package runfile

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// maxRead bounds a read: these files are small, a huge one is not ours.
const maxRead = 16 << 20

// Read reads path, refusing a symlink in its place.
func Read(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxRead))
}

// Replace writes data to path through a temporary file created fresh
// (O_EXCL, never through a symlink) and renamed over path, so a reader
// never sees a half-written file.
func Replace(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := f.Write(data)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}
