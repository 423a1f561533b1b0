// Package file is the agent's file fact source. It owns turning the
// configured directory trees into FACT_KIND_FILE facts: a recursive inotify
// watch of each tree (added before each directory is listed, so nothing
// created in a new directory is missed), an initial snapshot per root hashed
// by a bounded pool of workers, and per-path debounced re-checks on every
// change. It reports what it cannot watch (missing roots, unreadable
// entries, inotify queue overflows, the watch limit) as coverage
// conditions, and falls back to rescans and polling rather than going
// silent.
package file

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/fsnotify/fsnotify"

	"github.com/plumb-dev/plumb/agent/source"
)

func init() {
	source.Register("file", true, New)
}

// Source watches and reports file facts. Build it with New.
type Source struct {
	logger *slog.Logger
	set    settings
	hooks  hooks
	stats  stats
}

// hooks replace system calls in tests; zero values mean the real thing.
type hooks struct {
	addWatch func(w *fsnotify.Watcher, path string) error
	openFile func(path string) (int, error)
	openDir  func(path string) (int, error)
	errs     <-chan error          // extra watcher errors, as if from inotify
	events   <-chan fsnotify.Event // extra events, as if from fsnotify
	// noCloseWrite leaves out the close-write instance: the debounce
	// window alone decides when a written file is read.
	noCloseWrite bool
}

// stats count what tests and logs want to know.
type stats struct {
	opens       atomic.Int64 // regular files opened for hashing
	unreadable  atomic.Int64 // entries that could not be read
	overflows   atomic.Int64 // inotify queue overflows
	unwatched   atomic.Int64 // directories that could not be watched
	watches     atomic.Int64 // directories watched now
	closeWrites atomic.Int64 // close-after-write signals handled
}

// New builds the file source from its options (sources.file).
func New(logger *slog.Logger, opts source.Options) (source.Source, error) {
	return newSource(logger, opts)
}

func newSource(logger *slog.Logger, opts source.Options) (*Source, error) {
	cfg, err := decodeConfig(opts)
	if err != nil {
		return nil, err
	}
	set, err := cfg.resolve(opts.HostRoot)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Source{logger: logger, set: set}, nil
}

// Run snapshots every root, calls sink.Ready, then reports changes until
// ctx ends. It returns nil when ctx ends, and an error only if inotify
// cannot be used at all.
func (s *Source) Run(ctx context.Context, sink source.Sink) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("file source: start inotify: %w", err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the pump

	var cw *closeWrites
	if !s.hooks.noCloseWrite {
		// Without it, written files are read when their debounce
		// window closes, as before.
		if cw, err = newCloseWrites(); err != nil {
			s.logger.Warn("no close-after-write signal; written files are read after the debounce window", "err", err)
			cw = nil
		}
	}
	r := newRunner(s, w, cw, sink)
	r.events, r.errs = pump(ctx, w.Events, w.Errors)
	defer r.stop()
	if err := r.start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	sink.Ready()
	return r.loop(ctx)
}
