package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// configMapDataLink is the symlink Kubernetes swaps atomically when a
// ConfigMap or Secret volume is updated; the visible files point through it.
const configMapDataLink = "..data"

// fileWatcher turns changes of a set of files into debounced triggers. It
// watches the files' directories, not the files, because a ConfigMap update
// replaces the `..data` symlink and a watch on the old file would go dead.
type fileWatcher struct {
	w     *fsnotify.Watcher
	names map[string]map[string]bool // directory -> watched base names
	log   *slog.Logger
}

// newFileWatcher watches the directories of paths. Empty paths are skipped.
// It returns nil and no error when there is nothing to watch.
func newFileWatcher(paths []string, log *slog.Logger) (*fileWatcher, error) {
	names := map[string]map[string]bool{}
	for _, p := range paths {
		if p == "" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("watch %q: %w", p, err)
		}
		dir, base := filepath.Split(abs)
		dir = filepath.Clean(dir)
		if names[dir] == nil {
			names[dir] = map[string]bool{configMapDataLink: true}
		}
		names[dir][base] = true
	}
	if len(names) == 0 {
		return nil, nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("create file watcher: %w", err)
	}
	fw := &fileWatcher{w: w, names: names, log: log}
	watched := 0
	for dir := range names {
		if err := w.Add(dir); err != nil {
			// A missing directory is not fatal: SIGHUP still reloads.
			log.Warn("cannot watch directory; changes there need a SIGHUP", "path", dir, "err", err)
			continue
		}
		watched++
	}
	if watched == 0 {
		_ = w.Close() // nothing was added; the close error carries no information
		return nil, nil
	}
	return fw, nil
}

// relevant reports whether an event concerns a watched file.
func (fw *fileWatcher) relevant(ev fsnotify.Event) bool {
	dir, base := filepath.Split(ev.Name)
	return fw.names[filepath.Clean(dir)][base]
}

// run forwards relevant events to out, at most one per debounce period
// after the burst went quiet, until ctx ends. out should be buffered (1);
// a pending trigger absorbs further ones.
func (fw *fileWatcher) run(ctx context.Context, debounce time.Duration, out chan<- struct{}) {
	defer func() {
		if err := fw.w.Close(); err != nil {
			fw.log.Debug("close file watcher", "err", err)
		}
	}()
	timer := time.NewTimer(debounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-fw.w.Events:
			if !ok {
				return
			}
			if !fw.relevant(ev) {
				continue
			}
			fw.log.Debug("watched file changed", "path", ev.Name, "op", ev.Op.String())
			timer.Reset(debounce)
		case err, ok := <-fw.w.Errors:
			if !ok {
				return
			}
			fw.log.Warn("file watcher error", "err", err)
		case <-timer.C:
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}
}
