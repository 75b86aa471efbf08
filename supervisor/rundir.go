package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// runDirMode is the only mode a run directory may have: it holds
// keepalived's pid files, the notify FIFO and the state dumps, which
// nobody but the agent (root) may plant, replace or read.
const runDirMode fs.FileMode = 0o700

// RunDirError reports a run directory (or its parent) the agent must not
// use, because someone else could plant files or links in it.
type RunDirError struct {
	Path    string
	Problem string // what was found, e.g. "it is a symbolic link"
	UID     int    // the owner it must have
}

func (e *RunDirError) Error() string {
	return fmt.Sprintf("run directory %s: %s; it must be a directory (not a symbolic link) owned by uid %d with mode 0700: remove it and the agent creates it",
		e.Path, e.Problem, e.UID)
}

// PrepareRunDir creates path as a private directory (0700, owned by the
// agent's user) and its parent as well if missing (0700), or checks that an
// existing one is private. It refuses (*RunDirError) a symbolic link, a
// non-directory, another owner, or any group or other permission on path,
// and a parent that others can write to (unless sticky, like /tmp): files
// in the directory are trusted (pid files name processes to signal), so
// nobody else may be able to put them there. Run calls it for
// Options.RunDir; the caller should call it before anything else uses the
// directory (the notify FIFO).
func PrepareRunDir(path string) error {
	uid := os.Geteuid()
	parent := filepath.Dir(path)
	if _, err := os.Lstat(parent); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(parent, runDirMode); err != nil {
			return fmt.Errorf("create run directory parent %s: %w", parent, err)
		}
	}
	if err := checkParentDir(parent, uid); err != nil {
		return err
	}
	err := os.Mkdir(path, runDirMode)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create run directory %s: %w", path, err)
	}
	return checkPrivateDir(path, uid)
}

// checkPrivateDir checks what is at path, without following a link.
func checkPrivateDir(path string, uid int) error {
	st, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("run directory %s: %w", path, err)
	}
	bad := func(format string, a ...any) error {
		return &RunDirError{Path: path, Problem: fmt.Sprintf(format, a...), UID: uid}
	}
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		return bad("it is a symbolic link")
	case !st.IsDir():
		return bad("it is not a directory (%v)", st.Mode().Type())
	}
	if owner := ownerOf(st); owner != uid {
		return bad("it is owned by uid %d", owner)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return bad("its mode %v gives group or others access", st.Mode().Perm())
	}
	return nil
}

// checkParentDir refuses a parent in which others could rename or replace
// the run directory.
func checkParentDir(path string, uid int) error {
	st, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("run directory parent %s: %w", path, err)
	}
	bad := func(format string, a ...any) error {
		return &RunDirError{Path: path, Problem: "parent directory: " + fmt.Sprintf(format, a...), UID: uid}
	}
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		return bad("it is a symbolic link")
	case !st.IsDir():
		return bad("it is not a directory (%v)", st.Mode().Type())
	case st.Mode().Perm()&0o022 != 0 && st.Mode()&fs.ModeSticky == 0:
		return bad("its mode %v lets group or others replace entries", st.Mode().Perm())
	}
	if owner := ownerOf(st); owner != uid && owner != 0 {
		return bad("it is owned by uid %d", owner)
	}
	return nil
}

func ownerOf(st fs.FileInfo) int {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(sys.Uid)
	}
	return -1
}
