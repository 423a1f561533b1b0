package file

import (
	"context"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/plumb-dev/plumb/agent/source"
)

// Each root has an anchor: a non-recursive watch on its nearest existing
// ancestor directory. It is how the source notices a missing root appear,
// a root directory vanish and come back, or a root that is a file or a
// symlink be replaced (an editor's atomic save gives it a new inode, which
// a watch on the old one would never see). Roots never nest (options
// validation), so anchors never fall inside a watched tree.

// snapshotRoot reports the whole of rt afresh: Begin, Upserts, End of its
// scope. Used at start and after an overflow.
func (r *runner) snapshotRoot(ctx context.Context, rt *root) error {
	r.anchorRoot(rt)
	var st unix.Stat_t
	err := unix.Lstat(rt.path, &st)
	switch {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		if err := r.scanScope(ctx, rt.path); err != nil {
			return err
		}
		r.setMissing(rt, false)
	case err == nil:
		scope := r.scope(rt.path)
		r.forget(rt.path)
		r.sink.Begin(scope)
		r.upsertOne(rt.path, &st)
		r.sink.End(scope)
		r.setMissing(rt, false)
	case isGone(err):
		scope := r.scope(rt.path)
		r.forget(rt.path)
		r.sink.Begin(scope)
		r.sink.End(scope)
		r.setMissing(rt, true)
	case isDenied(err):
		// Nothing can be said about what is there; keep what was known.
		r.markUnreadable(rt.path, err)
	default:
		r.logger.Warn("cannot stat root", "path", r.display(rt.path), "err", err)
	}
	return ctx.Err()
}

// syncRoot re-checks rt after an event on it or on an ancestor.
func (r *runner) syncRoot(ctx context.Context, rt *root) {
	// Watch the ancestor first, then look: a root that appears between the
	// two is seen by the look, one that appears after by the watch.
	r.anchorRoot(rt)
	exists := r.syncPath(ctx, rt.path)
	r.setMissing(rt, !exists)
}

// setMissing reports a root going missing or coming back.
func (r *runner) setMissing(rt *root, missing bool) {
	if rt.missing == missing {
		return
	}
	rt.missing = missing
	c := source.Condition{State: ok, Reason: reasonMissing, Detail: r.set.key(rt.path)}
	if missing {
		c.State = blind
		r.logger.Warn("watched path does not exist; waiting for it to appear", "path", r.display(rt.path))
	} else {
		r.logger.Info("watched path appeared", "path", r.display(rt.path))
	}
	r.sink.Coverage(c)
}

// anchorRoot moves rt's anchor watch to its nearest existing ancestor.
func (r *runner) anchorRoot(rt *root) {
	if rt.path == "/" {
		return
	}
	a := nearestDir(filepath.Dir(rt.path))
	if a == rt.anchor && !rt.anchorFailed {
		return
	}
	if r.anchors[a] == 0 {
		if err := r.addWatch(a); err != nil {
			r.logger.Warn("cannot watch ancestor of root; polling for it", "path", r.display(rt.path), "ancestor", a, "err", err)
			r.releaseAnchor(rt.anchor)
			rt.anchor = ""
			rt.anchorFailed = true
			r.updatePoller()
			return
		}
	}
	r.anchors[a]++
	r.releaseAnchor(rt.anchor)
	rt.anchor = a
	if rt.anchorFailed {
		rt.anchorFailed = false
		r.updatePoller()
	}
}

func (r *runner) releaseAnchor(a string) {
	if a == "" {
		return
	}
	r.anchors[a]--
	if r.anchors[a] > 0 {
		return
	}
	delete(r.anchors, a)
	_ = r.rmWatch(a) // may be gone already
}

// nearestDir returns p or its nearest ancestor that is a directory.
func nearestDir(p string) string {
	for {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return p
		}
		if p == "/" {
			return p
		}
		p = filepath.Dir(p)
	}
}
