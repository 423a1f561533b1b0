package file

import (
	"context"
	"errors"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/plumb-dev/plumb/agent/source"
)

// The source keeps its open coverage conditions so that each is reported
// once when it opens and once (state OK) when it closes. A scan stamps the
// conditions it finds with its generation; at its end, the conditions
// under its top that it did not find again are closed.

// markUnreadable records that p's content or listing cannot be read.
func (r *runner) markUnreadable(p string, err error) {
	_, known := r.unreadable[p]
	r.unreadable[p] = r.gen
	if known {
		return
	}
	r.stats.unreadable.Add(1)
	r.logger.Warn("cannot read path; its content is not covered", "path", r.display(p), "err", err)
	r.sink.Coverage(source.Condition{State: blind, Reason: reasonUnreadable, Detail: r.set.key(p)})
}

func (r *runner) clearUnreadable(p string) {
	if _, known := r.unreadable[p]; !known {
		return
	}
	delete(r.unreadable, p)
	r.sink.Coverage(source.Condition{State: ok, Reason: reasonUnreadable, Detail: r.set.key(p)})
}

// markUnwatched records that directory p could not be watched, so its
// subtree is polled.
func (r *runner) markUnwatched(p string, err error) {
	if e, known := r.polled[p]; known {
		e.gen = r.gen
		return
	}
	reason := reasonWatchFailed
	if errors.Is(err, unix.ENOSPC) {
		reason = reasonWatchLimit
	}
	r.polled[p] = &pollEntry{reason: reason, gen: r.gen}
	r.stats.unwatched.Add(1)
	r.logger.Warn("cannot watch directory; polling it", "path", r.display(p), "reason", reason,
		"interval", r.set.pollInterval, "err", err)
	r.sink.Coverage(source.Condition{State: degraded, Reason: reason, Detail: r.set.key(p)})
	r.updatePoller()
}

func (r *runner) clearPolled(p string) {
	e, known := r.polled[p]
	if !known {
		return
	}
	delete(r.polled, p)
	r.logger.Info("directory is watched again", "path", r.display(p))
	r.sink.Coverage(source.Condition{State: ok, Reason: e.reason, Detail: r.set.key(p)})
	r.updatePoller()
}

// clearStale closes the conditions at or under top that the scan of
// generation gen did not find again.
func (r *runner) clearStale(top string, gen uint64) {
	for p, g := range r.unreadable {
		if g < gen && withinOrSame(p, top) {
			r.clearUnreadable(p)
		}
	}
	for p, e := range r.polled {
		if e.gen < gen && withinOrSame(p, top) {
			r.clearPolled(p)
		}
	}
}

// updatePoller runs the poll ticker while a subtree is polled or a root's
// ancestor could not be watched.
func (r *runner) updatePoller() {
	need := len(r.polled) > 0
	for _, rt := range r.roots {
		need = need || rt.anchorFailed
	}
	switch {
	case need && r.poller == nil:
		r.poller = time.NewTicker(r.set.pollInterval)
		r.pollC = r.poller.C
	case !need && r.poller != nil:
		r.poller.Stop()
		r.poller = nil
		r.pollC = nil
	}
}

// poll rescans every polled subtree, which also tries to watch it again,
// and retries the anchors of roots whose ancestor could not be watched.
func (r *runner) poll(ctx context.Context) {
	paths := make([]string, 0, len(r.polled))
	for p := range r.polled {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if _, still := r.polled[p]; !still {
			continue // cleared by an earlier scan in this round
		}
		if err := r.scanScope(ctx, p); err != nil {
			return
		}
	}
	for _, rt := range r.roots {
		if rt.anchorFailed {
			r.syncRoot(ctx, rt)
		}
	}
}
