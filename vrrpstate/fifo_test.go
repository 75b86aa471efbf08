package vrrpstate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

type lineSink struct {
	mu    sync.Mutex
	lines []Line
}

func (s *lineSink) add(l Line) { s.mu.Lock(); s.lines = append(s.lines, l); s.mu.Unlock() }
func (s *lineSink) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.lines) }

// writeFIFO writes like keepalived: open non-blocking for writing, write,
// close (as it does on every reload).
func writeFIFO(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
}

func TestFIFOReadsAcrossReopensAndReplacement(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vrrp.fifo")
	if err := Create(path); err != nil {
		t.Fatal(err)
	}
	if err := Create(path); err != nil { // idempotent
		t.Fatal(err)
	}
	sink := &lineSink{}
	f := &FIFO{Path: path, Handle: sink.add}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()

	// The reader opens asynchronously; a non-blocking write-open fails
	// with ENXIO until then.
	poll(t, 5*time.Second, func() error {
		w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return err
		}
		return w.Close()
	})
	writeFIFO(t, path, `INSTANCE "VI_1" BACKUP 100`, `garbage line`, `INSTANCE "VI_1" MASTER 100`)
	// A writer that closes and reopens (keepalived's reload) loses nothing.
	writeFIFO(t, path, `INSTANCE "VI_1" MASTER 100`)
	waitLines(t, sink, 3)

	// Someone replaces the FIFO: the reader notices and reads the new one.
	os.Remove(path)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, func() error {
		w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return err
		}
		w.Close()
		writeFIFO(t, path, `INSTANCE "VI_1" STOP 100`)
		if sink.count() < 4 {
			return fmt.Errorf("%d lines read", sink.count())
		}
		return nil
	})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	want := []Word{WordBackup, WordMaster, WordMaster, WordStop}
	for i, w := range want {
		if sink.lines[i].Word != w {
			t.Errorf("line %d = %+v, want %s", i, sink.lines[i], w)
		}
	}
}

func waitLines(t *testing.T, s *lineSink, n int) {
	t.Helper()
	poll(t, 5*time.Second, func() error {
		if c := s.count(); c < n {
			return fmt.Errorf("%d of %d lines read", c, n)
		}
		return nil
	})
}

func TestCreateRefusesOtherFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	os.WriteFile(path, nil, 0o600)
	if err := Create(path); err == nil {
		t.Fatal("Create over a regular file succeeded")
	}
}

// poll waits for cond with a deadline instead of sleeping a fixed time.
func poll(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
