package file

import (
	"bytes"
	"context"
	"errors"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
)

// A scan reports the subtree at a directory as one snapshot: Begin of its
// scope, an Upsert per entry, End. Three kinds of goroutine share the work:
//
//   - `workers` walkers list directories, each taking the next one from a
//     shared stack, watching it before listing it; they lstat every entry
//     and look up what the sink has for a directory's regular files in
//     one call (source.BatchLooker), for the stat fast path;
//   - `workers` hashers open and hash the regular files (in a scope the
//     sink holds nothing of, the first scan, the walkers do not lstat
//     them: the hashers take their metadata from the open descriptor);
//   - the Run goroutine, which owns the sink, decides the stat fast path,
//     hands files that need hashing to the hashers, and reports every
//     result.
//
// While it scans, the Run goroutine keeps draining inotify (events are
// handled when the scan is done), so a long scan does not overflow the
// kernel queue.

// maxQueued bounds the files waiting for a hasher; past it the walker
// waits, so memory stays bounded on any tree.
const maxQueued = 4096

// handoff is the capacity of the channels between the Run goroutine and
// the hashers, each way. Deep enough that a hasher finds its next file
// waiting and leaves its result without a wake-up of the Run goroutine
// per file: with a channel as deep as the worker count, hashers waited
// on the one goroutine that reports every result, and the scan of 20k
// files used 1.5 of 2 cores (430 ms, 0.66 s CPU); at 256, 1.65 cores and
// 15% less CPU (342 ms, 0.56 s).
const handoff = 256

// fastPathRun is how many steps the scan loop may take by one-channel
// tries before it runs its full select.
const fastPathRun = 64

// maxCaptureInflight bounds the content bytes that hashers may hold for
// the content keeper at once (files dispatched with a capture, counted at
// their stat size, until their result is reported): results carry the
// content, and handoff results of max_size each would be up to 256 MiB.
// A file larger than the budget still goes, alone. A variable for tests.
var maxCaptureInflight int64 = 8 << 20

type itemKind uint8

const (
	itemEntry      itemKind = iota // an entry to report
	itemUnreadable                 // err: its content or listing cannot be read
	itemUnwatched                  // err: a directory that could not be watched
	itemHeld                       // a directory replaced while listed: keep what was known
)

// walkItem is what the walker found at one path.
type walkItem struct {
	kind     itemKind
	path     string
	st       unix.Stat_t
	link     []byte // symlink target
	observed time.Time
	err      error
	// prev is what the sink has for a regular file, if looked (the
	// walker looked it up, BatchLooker).
	prev   *plumbv1.Fact
	looked bool
	// listed: a regular file by its directory listing, not lstat'ed (st
	// is empty): the scope held nothing, so there is no fast path to
	// take, and the hasher's fstat gives the metadata.
	listed bool
}

type hashJob struct {
	path     string
	st       unix.Stat_t
	observed time.Time
	prev     []byte // digest recorded before, if any
	capture  int64  // read and return content up to this size (contentKeeper)
	listed   bool   // walkItem.listed: st is empty
}

type hashResult struct {
	path     string
	attrs    *plumbv1.FileAttrs
	fact     *plumbv1.Fact // sealed from attrs by the hasher, when err is nil
	observed time.Time
	err      error
	prev     []byte // hashJob.prev
	linked   bool   // the file has other links
	content  []byte // as read, if captured
	captured bool   // content was asked for
	// captureCost is captureCost of the job, returned to the budget.
	captureCost int64
	listed      bool         // hashJob.listed
	stat        *unix.Stat_t // for a listed file: what its attributes come from, if any
}

// captureCost is what a job counts against maxCaptureInflight: the
// content it may bring back.
func captureCost(j hashJob) int64 {
	if j.capture <= 0 {
		return 0
	}
	if j.listed {
		return j.capture // size unknown: at most the bound
	}
	return max(0, min(j.st.Size, j.capture))
}

// scanScope watches and snapshots the subtree at top. It returns an error
// only when ctx ends; the snapshot is then left open, never ended, so that
// nothing is deleted for want of being seen.
func (r *runner) scanScope(ctx context.Context, top string) error {
	scope := r.scope(top)
	r.gen++
	gen := r.gen
	// Nothing known in scope (the first scan): a regular file needs no
	// lstat before it is opened, there being no recorded stat to compare.
	sc, ok := r.sink.(source.ScopeChecker)
	r.listedOnly = ok && !sc.Holds(scope)
	defer func() { r.listedOnly = false }()
	r.sink.Begin(scope)
	seen, err := r.scan(ctx, top)
	r.content.flush()
	if err != nil {
		return err
	}
	r.sink.End(scope)
	r.ws.sweep(top, seen)
	r.clearStale(top, gen)
	return nil
}

// scan runs the walker and hashers over top and reports what they find. It
// returns the directories it found.
func (r *runner) scan(ctx context.Context, top string) (map[string]struct{}, error) {
	g, gctx := errgroup.WithContext(ctx)
	items := make(chan walkItem, 256)
	jobs := make(chan hashJob, handoff)
	results := make(chan hashResult, handoff)

	g.Go(func() error {
		defer close(items)
		return r.walk(gctx, top, items)
	})
	for range r.set.workers {
		g.Go(func() error {
			for j := range jobs {
				res := hashResult{path: j.path, observed: j.observed, prev: j.prev, linked: j.st.Nlink > 1, captured: j.capture > 0,
					captureCost: captureCost(j), listed: j.listed}
				if j.listed {
					res.attrs, res.content, res.stat, res.err = r.obs.observeListed(j.path, j.capture)
					res.linked = res.stat != nil && res.stat.Nlink > 1
				} else {
					res.attrs, res.content, res.err = r.obs.observe(j.path, &j.st, nil, j.capture)
				}
				if res.err == nil {
					// Sealing hashes the fact's canonical encoding: done
					// here, beside the content hash, not on the one
					// goroutine that reports every result.
					res.fact = r.newFact(j.path, res.attrs, j.observed)
				}
				select {
				case results <- res:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}

	seen := map[string]struct{}{}
	// Files waiting for a hasher, first in first out: queue[head:]. The
	// array is reused from its start once it empties (reslicing the
	// front away made append allocate anew: a fifth of a scan's
	// allocations).
	var queue []hashJob
	head := 0
	inflight := 0
	var capturing int64 // content bytes dispatched and not yet reported
	in := items
	// queueItem, dispatched and reported keep the loop's bookkeeping
	// (queue, inflight, capturing) for its fast path and its select.
	queueItem := func(it walkItem) {
		if job, hash := r.onItem(it, seen); hash {
			if len(queue) == cap(queue) && head > 0 {
				// Full to its end: use the room at its front rather
				// than let append double it. The array then stays
				// within maxQueued (rounded up by append).
				n := copy(queue, queue[head:])
				clear(queue[n:])
				queue, head = queue[:n], 0
			}
			queue = append(queue, job)
		}
	}
	dispatched := func(next hashJob) {
		queue[head] = hashJob{}
		if head++; head == len(queue) {
			queue, head = queue[:0], 0
		}
		inflight++
		capturing += captureCost(next)
	}
	reported := func(res hashResult) {
		inflight--
		capturing -= res.captureCost
		r.onResult(res)
	}
	quick := 0 // steps taken by the fast path since the last full select
loop:
	for in != nil || len(queue) > head || inflight > 0 {
		var out chan<- hashJob
		var next hashJob
		if len(queue) > head {
			next = queue[head]
			if next.capture == 0 || capturing == 0 || capturing+captureCost(next) <= maxCaptureInflight {
				out = jobs
			}
		}
		recv := in
		if len(queue)-head >= maxQueued {
			recv = nil
		}
		// The fast path: whichever of a result, a hand-off and an item
		// is ready at once, each a one-channel try, not a select over
		// all seven, which locks every channel it waits on (that select
		// was 2.6 % of the agent's CPU in a first scan). Every
		// fastPathRun steps the full select runs, so inotify is drained
		// and cancellation seen on any tree.
		if quick < fastPathRun {
			quick++
			select {
			case res := <-results:
				reported(res)
				continue
			default:
			}
			if out != nil {
				select {
				case out <- next:
					dispatched(next)
					continue
				default:
				}
			}
			if recv != nil {
				select {
				case it, ok := <-recv:
					if !ok {
						in = nil
					} else {
						queueItem(it)
					}
					continue
				default:
				}
			}
		}
		quick = 0
		select {
		case it, ok := <-recv:
			if !ok {
				in = nil
				continue
			}
			queueItem(it)
		case out <- next:
			dispatched(next)
		case res := <-results:
			reported(res)
		case ev, ok := <-r.events:
			if !ok {
				r.events, r.closed = nil, true
				continue
			}
			r.deferEvent(ev.Name)
		case err, ok := <-r.errs:
			if !ok {
				r.errs, r.closed = nil, true
				continue
			}
			r.onError(err)
		case err := <-r.injected:
			r.onError(err)
		case <-gctx.Done():
			break loop
		}
	}
	close(jobs)
	err := g.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return seen, err
}

// onItem reports what the walker found, or returns the hash job it needs.
func (r *runner) onItem(it walkItem, seen map[string]struct{}) (hashJob, bool) {
	switch it.kind {
	case itemUnwatched:
		r.markUnwatched(it.path, it.err)
		return hashJob{}, false
	case itemUnreadable:
		// What is at or under the path cannot be seen: what was known
		// there stays, rather than be deleted for want of being seen.
		r.sink.Hold(r.scope(it.path))
		r.markUnreadable(it.path, it.err)
		return hashJob{}, false
	case itemHeld:
		r.sink.Hold(r.scope(it.path))
		return hashJob{}, false
	}
	if it.listed {
		// Nothing recorded in scope: read it; its links are noted from
		// the hasher's fstat (onResult).
		return hashJob{path: it.path, observed: it.observed, capture: r.content.captureLimit(r.set.key(it.path)), listed: true}, true
	}
	r.noteLinks(it.path, &it.st)
	if it.st.Mode&unix.S_IFMT == unix.S_IFREG {
		prev := it.prev
		if !it.looked {
			prev, _ = r.lookup(it.path)
		}
		key := r.set.key(it.path)
		if reusableHash(prev, &it.st) == nil || r.content.needsRead(key, it.st.Mode, it.st.Size) {
			return hashJob{path: it.path, st: it.st, observed: it.observed, prev: prev.GetDigest(),
				capture: r.content.captureLimit(key)}, true
		}
		// Same size, times, inode, and settled: nothing about the file
		// can have changed (a chmod or chown moves ctime), so it is
		// kept as recorded, at no cost to the state.
		r.sink.Keep(r.keyOf(it.path))
		return hashJob{}, false
	}
	a := attrsOf(&it.st)
	switch a.Type {
	case dirType:
		seen[it.path] = struct{}{}
	case plumbv1.FileType_FILE_TYPE_SYMLINK:
		a.LinkTarget = it.link
	}
	r.sink.Upsert(r.newFact(it.path, a, it.observed))
	return hashJob{}, false
}

// onResult reports a hashed file. A file that vanished is not reported, so
// the snapshot's End deletes it.
func (r *runner) onResult(res hashResult) {
	if res.listed && res.stat != nil {
		r.noteLinks(res.path, res.stat)
	}
	var ue *unreadableError
	switch {
	case res.err == nil:
		f := res.fact
		r.sink.Upsert(f)
		r.content.scanned(f, res.content, res.captured)
		if res.linked && !bytes.Equal(res.prev, f.GetDigest()) {
			// New or changed since last seen under this name (a
			// directory moved with it, say): its other names may have
			// changed with it. (The first scan's searches wait for its
			// end and take one pass.)
			r.recheckLinks(res.path)
		}
	case errors.As(res.err, &ue):
		r.reportUnreadable(res.path, res.attrs, res.observed, ue)
	case errors.Is(res.err, errGone), errors.Is(res.err, errUnstable):
	default:
		r.logger.Warn("cannot observe path", "path", r.display(res.path), "err", res.err)
	}
}
