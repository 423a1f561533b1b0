package file

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/plumb-dev/plumb/agent/source"
)

// runner is the state of one Run. Its methods run on the Run goroutine,
// which alone calls the sink; only the scan's walker and hash workers run
// beside it, and they reach the sink through it.
type runner struct {
	set    *settings
	logger *slog.Logger
	stats  *stats
	sink   source.Sink
	// batcher is sink, if it can look many keys up at once from any
	// goroutine (the walkers): nil otherwise.
	batcher source.BatchLooker
	// listedOnly, during a scan of a scope the sink holds nothing of:
	// walkers send regular files by their listing's type, unstat'ed
	// (walkItem.listed). Set before the walkers start.
	listedOnly bool

	obs      *observer
	content  *contentKeeper
	ws       *watchSet
	addWatch func(string) error // also for anchors
	rmWatch  func(string) error
	openDir  func(string) (int, error)

	events     <-chan fsnotify.Event
	errs       <-chan error
	injected   <-chan error
	injectedEv <-chan fsnotify.Event
	closed     bool // the watcher's channels closed under us
	// cw gives the close-after-write signal (nil: not available);
	// closeWriteC is its channel until it closes.
	cw          *closeWrites
	closeWriteC <-chan string

	roots   []*root
	anchors map[string]int // watched ancestors of roots → roots using them

	deb      *debouncer
	timer    *time.Timer
	deferred []string            // paths whose events arrived during a scan
	deferSet map[string]struct{} // the same, for dedup
	// emptyRecheck holds paths held back once because an event found them
	// newly empty (see emptiedMidWrite).
	emptyRecheck map[string]struct{}

	gen        uint64                // bumped per scan; marks conditions a scan confirmed
	polled     map[string]*pollEntry // directories that could not be watched
	unreadable map[string]uint64     // path → gen that last found it unreadable
	poller     *time.Ticker          // runs while something needs polling
	pollC      <-chan time.Time      // poller.C, or nil
	overflow   bool                  // an overflow is waiting for its rescan
	links      *linkSet              // names of multiply-linked files
	// linkSearch runs findLinks once a burst's inodes are gathered
	linkSearch  *time.Timer
	linkSearchC <-chan time.Time // linkSearch.C, or nil
	linkNext    time.Time        // no search before then
	// sweep runs sweepCtimes after an event for a name gone unseen.
	sweep     *time.Timer
	sweepC    <-chan time.Time // sweep.C, or nil
	sweepNext time.Time        // no sweep before then
}

// root is one configured path.
type root struct {
	path         string // on this machine
	anchor       string // the watched nearest existing ancestor, or ""
	anchorFailed bool   // the ancestor could not be watched; retried on poll
	missing      bool   // reported BLIND "missing"
}

type pollEntry struct {
	reason string
	gen    uint64
}

func newRunner(s *Source, w *fsnotify.Watcher, cw *closeWrites, sink source.Sink) *runner {
	r := &runner{
		set:          &s.set,
		logger:       s.logger,
		stats:        &s.stats,
		sink:         sink,
		batcher:      batcherOf(sink),
		rmWatch:      w.Remove,
		openDir:      openDirectory,
		events:       w.Events,
		errs:         w.Errors,
		injected:     s.hooks.errs,
		injectedEv:   s.hooks.events,
		anchors:      map[string]int{},
		deb:          newDebouncer(s.set.debounce),
		timer:        time.NewTimer(time.Hour),
		deferSet:     map[string]struct{}{},
		emptyRecheck: map[string]struct{}{},
		polled:       map[string]*pollEntry{},
		unreadable:   map[string]uint64{},
		links:        newLinkSet(),
	}
	r.timer.Stop()
	r.addWatch = w.Add
	if h := s.hooks.addWatch; h != nil {
		r.addWatch = func(p string) error { return h(w, p) }
	}
	if s.hooks.openDir != nil {
		r.openDir = s.hooks.openDir
	}
	r.obs = &observer{open: openRegular, opens: func() { s.stats.opens.Add(1) }}
	if s.hooks.openFile != nil {
		r.obs.open = s.hooks.openFile
	}
	if cw != nil {
		r.cw, r.closeWriteC = cw, cw.C()
	}
	r.ws = newWatchSet(r.watchDir, r.unwatchDir, &s.stats.watches)
	r.content = newContentKeeper(&s.set, sink, s.logger)
	for _, p := range s.set.roots {
		r.roots = append(r.roots, &root{path: p})
	}
	return r
}

func (r *runner) stop() {
	r.ws.forgetAll()
	if r.cw != nil {
		r.cw.close()
	}
	r.timer.Stop()
	if r.linkSearch != nil {
		r.linkSearch.Stop()
	}
	if r.sweep != nil {
		r.sweep.Stop()
	}
	if r.poller != nil {
		r.poller.Stop()
	}
}

// start takes the initial snapshot of every root.
func (r *runner) start(ctx context.Context) error {
	for _, rt := range r.roots {
		if err := r.snapshotRoot(ctx, rt); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// loop handles events until ctx ends.
func (r *runner) loop(ctx context.Context) error {
	for {
		if r.overflow {
			r.rescanAll(ctx)
		}
		r.drainDeferred(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if r.closed {
			return errors.New("file source: inotify watcher closed")
		}
		r.armTimer()
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-r.events:
			if !ok {
				r.closed = true
				continue
			}
			r.onEvent(ctx, ev)
		case err, ok := <-r.errs:
			if !ok {
				r.closed = true
				continue
			}
			r.onError(err)
		case err := <-r.injected:
			r.onError(err)
		case ev := <-r.injectedEv:
			r.onEvent(ctx, ev)
		case p, ok := <-r.closeWriteC:
			if !ok {
				r.closeWriteC = nil
				continue
			}
			r.onCloseWrite(ctx, p)
		case <-r.timer.C:
			for _, p := range r.deb.due(time.Now()) {
				r.handle(ctx, p)
			}
		case <-r.pollC:
			r.poll(ctx)
		case <-r.linkSearchC:
			r.findLinks()
		case <-r.sweepC:
			r.sweepCtimes()
		}
	}
}

// onEvent handles the first event for a path at once and folds later ones
// into the path's debounce window.
func (r *runner) onEvent(ctx context.Context, ev fsnotify.Event) {
	p := filepath.Clean(ev.Name)
	if ev.Op.Has(fsnotify.Rename) {
		r.watchDroppedOnMove(p)
	}
	if r.deb.event(p, time.Now(), settles(ev.Op)) {
		r.handle(ctx, p)
	}
}

// maxFoldedBeforeClose bounds the queued events onCloseWrite takes first.
const maxFoldedBeforeClose = 64

// onCloseWrite handles a writer closing path p: it has written what it
// meant to, so p is read now rather than when its debounce window closes,
// and the window stays open (no longer pending) so that events still on
// their way for the same write fold into it. A file some other writer
// still holds open keeps changing, and those changes are handled as any
// others; a file closed empty is still held back once (emptiedMidWrite).
func (r *runner) onCloseWrite(ctx context.Context, p string) {
	p = filepath.Clean(p)
	r.stats.closeWrites.Add(1)
	// The events fsnotify has already passed on, most likely those of
	// this very write, are folded in first: arriving after the read,
	// they would only make the path pending and have it read again.
	for range maxFoldedBeforeClose {
		select {
		case ev, ok := <-r.events:
			if !ok {
				r.closed = true
				break
			}
			r.onEvent(ctx, ev)
			continue
		default:
		}
		break
	}
	r.deb.closed(p, time.Now())
	r.handle(ctx, p)
}

// watchDroppedOnMove handles a rename event for p, a directory the source
// watches that is still there, as itself: that is fsnotify reporting
// IN_MOVE_SELF for a directory moved to p. fsnotify then removes the
// watch, and if the source had already watched the directory at its new
// path, what it removed is that watch. The source forgets it, so that p is
// watched and scanned again when the event is handled.
func (r *runner) watchDroppedOnMove(p string) {
	id, watched := r.ws.watched(p)
	if !watched {
		return
	}
	var st unix.Stat_t
	if unix.Lstat(p, &st) != nil || (devIno{st.Dev, st.Ino}) != id {
		return
	}
	r.logger.Debug("watch dropped by a move of the directory itself; watching it again", "path", r.display(p))
	r.ws.drop(p)
}

// settles reports whether a path must settle before it is read: every
// event but a removal or rename away. The path is read once events for it
// pause for a debounce window, so a rewrite (O_TRUNC, then write) is never
// seen empty and an editor's temp file is gone before it is looked at.
// Even a chmod settles: by the time it is handled the file may be
// mid-write. inotify's IN_CLOSE_WRITE says exactly when a writer is done;
// fsnotify does not expose it, so a second instance gives it (closeWrites,
// onCloseWrite) and most writes are read without waiting for the window.
func settles(op fsnotify.Op) bool {
	return !op.Has(fsnotify.Remove) && !op.Has(fsnotify.Rename)
}

// onError handles an error from the watcher. An overflow means events were
// lost: every root is rescanned (by the loop, once the current work is
// done).
func (r *runner) onError(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		r.overflow = true
		return
	}
	r.logger.Warn("inotify watcher error", "err", err)
}

// deferEvent keeps an event that arrived while a scan held the loop; the
// loop handles it as soon as the scan is done.
func (r *runner) deferEvent(name string) {
	p := filepath.Clean(name)
	if _, ok := r.deferSet[p]; ok {
		return
	}
	r.deferSet[p] = struct{}{}
	r.deferred = append(r.deferred, p)
}

func (r *runner) drainDeferred(ctx context.Context) {
	for len(r.deferred) > 0 && ctx.Err() == nil {
		p := r.deferred[0]
		r.deferred[0] = ""
		r.deferred = r.deferred[1:]
		delete(r.deferSet, p)
		if r.deb.event(p, time.Now(), false) {
			r.handle(ctx, p)
		}
	}
	if len(r.deferred) == 0 {
		r.deferred = nil
	}
}

func (r *runner) armTimer() {
	if d, ok := r.deb.next(); ok {
		r.timer.Reset(time.Until(d))
		return
	}
	r.timer.Stop()
}

// rescanAll answers an inotify queue overflow: events were lost, so every
// root is snapshotted again, loudly.
func (r *runner) rescanAll(ctx context.Context) {
	r.logger.Warn("inotify queue overflowed; rescanning every root", "roots", len(r.roots))
	r.sink.Coverage(source.Condition{State: degraded, Reason: reasonOverflow})
	for r.overflow && ctx.Err() == nil {
		r.overflow = false
		r.stats.overflows.Add(1)
		for _, rt := range r.roots {
			if err := r.snapshotRoot(ctx, rt); err != nil {
				return
			}
		}
	}
	if ctx.Err() == nil {
		r.sink.Coverage(source.Condition{State: ok, Reason: reasonOverflow})
	}
}

// watchDir watches directory p for the watchSet: its inotify watch, and
// the close-write watch beside it. The close-write instance never costs
// coverage: when either instance meets the per-user watch limit, it is
// closed, its watches freed for fsnotify, and the debounce window alone
// decides when a written file is read.
func (r *runner) watchDir(p string) error {
	err := r.addWatch(p)
	if errors.Is(err, unix.ENOSPC) && r.dropCloseWrites("inotify watch limit reached") {
		err = r.addWatch(p)
	}
	if err != nil || r.cw == nil {
		return err
	}
	if err := r.cw.add(p); errors.Is(err, unix.ENOSPC) {
		r.dropCloseWrites("inotify watch limit reached")
	} else if err != nil {
		r.logger.Debug("no close-write watch on directory", "path", r.display(p), "err", err)
	}
	return nil
}

func (r *runner) unwatchDir(p string) error {
	if r.cw != nil {
		r.cw.remove(p)
	}
	return r.rmWatch(p)
}

// dropCloseWrites closes the close-write instance for good and reports
// whether it was open. It may run on the scan's walker (under the
// watchSet's lock); the event loop sees the instance's channel close.
func (r *runner) dropCloseWrites(why string) bool {
	if r.cw == nil || !r.cw.close() {
		return false
	}
	r.logger.Warn("close-after-write signal off; written files are read after the debounce window", "reason", why,
		"debounce", r.set.debounce)
	return true
}

func batcherOf(sink source.Sink) source.BatchLooker {
	b, _ := sink.(source.BatchLooker)
	return b
}
