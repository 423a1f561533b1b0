package file

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// Every event names a path; the source re-checks that path against the
// filesystem and reports what it finds, rather than trusting the event's
// kind. A path that is gone is deleted (with its subtree if it was a
// directory), a new or replaced directory is watched and scanned, anything
// else is observed and upserted.

// handle re-checks path p after an event for it.
func (r *runner) handle(ctx context.Context, p string) {
	for _, rt := range r.roots {
		switch {
		case p == rt.path:
			r.syncRoot(ctx, rt)
			return
		case within(p, rt.path):
			dir := filepath.Dir(p)
			if _, ok := r.ws.watched(dir); ok {
				r.syncPath(ctx, p)
				return
			}
			// An event from a directory the source does not hold as
			// watched: stale (queued before the directory moved or went)
			// if it is not there, else the source's record is behind the
			// kernel's (a watch kept under a name the source dropped):
			// then the directory is looked at, and so watched and
			// scanned, rather than its changes ignored.
			var st unix.Stat_t
			if dir != rt.path && unix.Lstat(dir, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
				r.logger.Debug("event in a directory not held as watched; looking at it", "path", r.display(p))
				r.syncPath(ctx, dir)
				return
			}
			r.logger.Debug("stale event ignored", "path", r.display(p))
			return
		}
	}
	// An event on a watched ancestor of a root: the root, or a directory
	// on the way to it, may have appeared or gone.
	for _, rt := range r.roots {
		if within(rt.path, p) {
			r.syncRoot(ctx, rt)
		}
	}
}

// syncPath brings the facts for p, a path inside a root, up to date.
func (r *runner) syncPath(ctx context.Context, p string) (exists bool) {
	if r.set.excluded(p) {
		return false
	}
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		switch {
		case isGone(err):
			r.removePath(p)
			return false
		case isDenied(err):
			r.markUnreadable(p, err)
		default:
			r.logger.Warn("cannot stat path", "path", r.display(p), "err", err)
		}
		return true
	}
	r.noteLinks(p, &st)
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		id := devIno{st.Dev, st.Ino}
		cur, watched := r.ws.watched(p)
		_, unreadable := r.unreadable[p]
		_, polled := r.polled[p]
		if (watched && cur == id && !unreadable) || (polled && !watched) {
			// Known directory: only its own attributes changed. A polled
			// one's contents are the poller's.
			r.upsertOne(p, &st)
			return true
		}
		// New, replaced or once unreadable: watch it, then scan it.
		_ = r.scanScope(ctx, p)
		return true
	}
	if r.wasDir(p) {
		// A directory was replaced by a file: its subtree goes.
		scope := r.scope(p)
		r.forget(p)
		r.sink.Begin(scope)
		r.upsertOne(p, &st)
		r.sink.End(scope)
		return true
	}
	if r.emptiedMidWrite(p, &st) {
		return true
	}
	r.upsertOne(p, &st)
	return true
}

// emptiedMidWrite holds back, once, a regular file that an event finds
// newly empty: most likely a rewriter truncated it (O_TRUNC) and was
// preempted before writing. The path is looked at again when a fresh
// debounce window closes; if it is still empty then, empty it is. Without
// this, on-call would get an alert for an empty file and another for the
// real content moments later.
func (r *runner) emptiedMidWrite(p string, st *unix.Stat_t) bool {
	if _, again := r.emptyRecheck[p]; again {
		delete(r.emptyRecheck, p)
		return false
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != 0 || r.set.debounce == 0 {
		return false
	}
	prev, ok := r.lookup(p)
	if !ok || prev.GetFile().GetType() != plumbv1.FileType_FILE_TYPE_REGULAR || prev.GetFile().GetSize() == 0 {
		return false
	}
	r.emptyRecheck[p] = struct{}{}
	r.deb.event(p, time.Now(), true)
	return true
}

// removePath reports that p no longer exists, with everything under it if
// it was a directory.
func (r *runner) removePath(p string) {
	// A hard link's other names may have been changed through it before
	// it went.
	for _, q := range r.links.others(p) {
		r.recheck(q)
	}
	prev, had := r.lookup(p)
	if !had {
		// Came and went unseen: if it was a hard link, what was done
		// through it shows only in ctimes.
		r.wantSweep()
	}
	if r.wasDirFact(p, prev) {
		scope := r.scope(p)
		r.forget(p)
		r.sink.Begin(scope)
		r.sink.End(scope)
		return
	}
	r.forget(p)
	if had {
		r.sink.Delete(r.keyOf(p))
	}
}

// upsertOne observes the existing path p (st is its lstat) and reports it.
func (r *runner) upsertOne(p string, st *unix.Stat_t) {
	prev, _ := r.lookup(p)
	observed := time.Now()
	var capture int64
	if st.Mode&unix.S_IFMT == unix.S_IFREG {
		capture = r.content.captureLimit(r.set.key(p))
	}
	a, content, err := r.obs.observe(p, st, prev, capture)
	var ue *unreadableError
	switch {
	case err == nil:
		f := r.newFact(p, a, observed)
		if prev == nil || !bytes.Equal(prev.GetDigest(), f.GetDigest()) {
			// A live change: it carries its content change, if the
			// file's content is kept. (The digest leaves it out.)
			a.Content = r.content.change(f, prev != nil, content)
		}
		r.sink.Upsert(f)
		if a.GetType() != dirType {
			r.clearUnreadable(p)
		}
		if prev == nil || !bytes.Equal(prev.GetDigest(), f.GetDigest()) {
			r.recheckLinks(p)
		}
	case errors.As(err, &ue):
		r.reportUnreadable(p, a, observed, ue)
	case errors.Is(err, errGone):
		r.removePath(p)
	case errors.Is(err, errUnstable):
		r.logger.Debug("path keeps changing; waiting for its next event", "path", r.display(p))
	default:
		r.logger.Warn("cannot observe path", "path", r.display(p), "err", err)
	}
}

// reportUnreadable reports p, whose content cannot be read, as a coverage
// gap. Its metadata (a, if stat could read it) is reported with the last
// content hash known for it: not being able to read a file says nothing
// about its content, so it is no change of content either.
func (r *runner) reportUnreadable(p string, a *plumbv1.FileAttrs, observed time.Time, ue *unreadableError) {
	if a != nil {
		if prev, ok := r.lookup(p); ok && a.GetType() == plumbv1.FileType_FILE_TYPE_REGULAR &&
			prev.GetFile().GetType() == plumbv1.FileType_FILE_TYPE_REGULAR {
			a.Sha256 = prev.GetFile().GetSha256()
			// The hash was not taken from this file as it is now: no
			// ctime, so the stat fast path never takes it as verified.
			a.CtimeUnixNano = 0
		}
		r.sink.Upsert(r.newFact(p, a, observed))
	}
	r.markUnreadable(p, ue.err)
}

// wasDir reports whether p was last known as a directory.
func (r *runner) wasDir(p string) bool {
	prev, _ := r.lookup(p)
	return r.wasDirFact(p, prev)
}

func (r *runner) wasDirFact(p string, prev *plumbv1.Fact) bool {
	if _, ok := r.ws.watched(p); ok {
		return true
	}
	if _, ok := r.polled[p]; ok {
		return true
	}
	return prev != nil && prev.GetFile().GetType() == dirType
}

// forget drops the watches, open conditions and known links at and under
// p.
func (r *runner) forget(p string) {
	r.ws.drop(p)
	r.links.forgetUnder(p)
	for q := range r.polled {
		if withinOrSame(q, p) {
			r.clearPolled(q)
		}
	}
	for q := range r.unreadable {
		if withinOrSame(q, p) {
			r.clearUnreadable(q)
		}
	}
}
