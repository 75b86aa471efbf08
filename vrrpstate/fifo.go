package vrrpstate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"time"
)

// maxLine bounds one FIFO line. keepalived's are well under 300 bytes; a
// longer one means the reader lost sync and is skipped.
const maxLine = 4096

// fifoRecheck is how often the reader verifies that the path still names
// the FIFO it holds open. Someone (an older keepalived that created the
// FIFO itself, a cleanup script) may have replaced it.
const fifoRecheck = 2 * time.Second

// FIFO reads keepalived's vrrp notify FIFO continuously.
//
// The FIFO is created by the agent (mode 0600) before keepalived starts, so
// keepalived never unlinks it on reload. It is opened read-write and
// non-blocking: opening never waits for a writer, and because the agent
// holds a write end itself, the read end does not see EOF in the
// microseconds keepalived's VRRP child spends between closing and reopening
// it on reload, so nothing written right after a reload is lost. EOF, a read
// error or a replaced path (checked every few seconds) still make it reopen.
type FIFO struct {
	Path string
	Log  *slog.Logger
	// Handle is called for every parsed line, in order, from Run's
	// goroutine. It should not block for long.
	Handle func(Line)
}

// Create makes the FIFO at path (mode 0600) unless a FIFO is already there.
// Any other kind of file at path is an error: it is not ours to remove.
func Create(path string) error {
	st, err := os.Lstat(path)
	switch {
	case err == nil && st.Mode()&os.ModeNamedPipe != 0:
		return nil
	case err == nil:
		return fmt.Errorf("notify FIFO %s: a %v is in the way; the agent needs to create a FIFO there", path, st.Mode().Type())
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("notify FIFO %s: %w", path, err)
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create notify FIFO %s: %w", path, err)
	}
	return nil
}

// Run reads until ctx is done. It returns nil then; it never gives up on
// errors, which are logged and retried after a short pause.
func (f *FIFO) Run(ctx context.Context) error {
	log := f.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for ctx.Err() == nil {
		err := f.readOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			log.Warn("notify FIFO read failed; reopening", "path", f.Path, "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// readOnce opens the FIFO and reads lines until EOF, an error, ctx, or the
// path is replaced.
func (f *FIFO) readOnce(ctx context.Context) error {
	if err := Create(f.Path); err != nil {
		return err
	}
	file, err := os.OpenFile(f.Path, os.O_RDWR|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("open notify FIFO: %w", err)
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return fmt.Errorf("stat notify FIFO: %w", err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		// Closing the file unblocks the pending Read (the FIFO is in
		// Go's poller because it was opened non-blocking).
		t := time.NewTicker(fifoRecheck)
		defer t.Stop()
		for {
			select {
			case <-done:
				file.Close()
				return
			case <-ctx.Done():
				file.Close()
				return
			case <-t.C:
				cur, err := os.Stat(f.Path)
				if err != nil || !os.SameFile(cur, st) {
					file.Close()
					return
				}
			}
		}
	}()
	r := bufio.NewReaderSize(file, maxLine)
	for {
		b, err := r.ReadSlice('\n')
		switch {
		case err == nil:
			f.handle(b)
			continue
		case errors.Is(err, bufio.ErrBufferFull):
			f.skipLong(r)
			continue
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, os.ErrClosed):
			if ctx.Err() != nil {
				return nil
			}
			return errors.New("notify FIFO was replaced")
		default:
			return fmt.Errorf("read notify FIFO: %w", err)
		}
	}
}

func (f *FIFO) handle(b []byte) {
	l, err := ParseLine(string(b))
	if err != nil {
		if f.Log != nil {
			f.Log.Warn("ignoring unexpected notify FIFO line", "err", err)
		}
		return
	}
	if f.Handle != nil {
		f.Handle(l)
	}
}

// skipLong discards the rest of an over-long line.
func (f *FIFO) skipLong(r *bufio.Reader) {
	if f.Log != nil {
		f.Log.Warn("ignoring over-long notify FIFO line", "limit", maxLine)
	}
	for {
		_, err := r.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}
