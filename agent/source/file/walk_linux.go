package file

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// openDirectory opens path for listing, refusing a symlink; a hook so tests
// can fail it.
func openDirectory(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

type dirTask struct {
	path     string
	st       unix.Stat_t
	watch    bool // false under a directory that could not be watched
	observed time.Time
}

// walk lists the tree at top depth first, on `workers` walkers, and sends
// what it finds. Each directory is watched before it is listed, so an
// entry created in it later is reported by an event, and one created
// earlier by the listing.
// Entries are lstat'ed relative to their directory's descriptor: no path
// lookups, and no symlink is ever followed.
func (r *runner) walk(ctx context.Context, top string, out chan<- walkItem) error {
	send := func(it walkItem) error {
		select {
		case out <- it:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if r.set.excluded(top) {
		return nil
	}
	var st unix.Stat_t
	now := time.Now()
	if err := unix.Lstat(top, &st); err != nil {
		switch {
		case isGone(err):
			return nil
		case isDenied(err):
			return send(walkItem{kind: itemUnreadable, path: top, err: err})
		}
		r.logger.Warn("cannot stat path", "path", r.display(top), "err", err)
		return nil
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		it := walkItem{path: top, st: st, observed: now}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			link, err := readlinkAt(unix.AT_FDCWD, top)
			if err != nil {
				return nil // replaced meanwhile; its event re-checks it
			}
			it.link = link
		}
		return send(it)
	}
	q := newDirStack(dirTask{path: top, st: st, watch: true, observed: now})
	var g errgroup.Group
	for range r.set.workers {
		g.Go(func() error {
			for {
				t, ok := q.take()
				if !ok {
					return nil
				}
				sub, err := r.walkDir(t, nil, send)
				q.done(sub, err != nil)
				if err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}

// dirStack hands the directories of one walk to its walkers, last in
// first out, so that the walk goes depth first and the stack holds at
// most the tree's depth times its fan-out.
type dirStack struct {
	mu    sync.Mutex
	cond  sync.Cond
	tasks []dirTask // guarded by mu
	busy  int       // walkers listing a directory; guarded by mu
	stop  bool      // a walker failed: the others stop; guarded by mu
}

func newDirStack(top dirTask) *dirStack {
	q := &dirStack{tasks: []dirTask{top}}
	q.cond.L = &q.mu
	return q
}

// take returns the next directory to list, waiting while other walkers
// may still find some; false when the walk is over.
func (q *dirStack) take() (dirTask, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.tasks) == 0 && q.busy > 0 && !q.stop {
		q.cond.Wait()
	}
	if q.stop || len(q.tasks) == 0 {
		return dirTask{}, false
	}
	t := q.tasks[len(q.tasks)-1]
	q.tasks[len(q.tasks)-1] = dirTask{}
	q.tasks = q.tasks[:len(q.tasks)-1]
	q.busy++
	return t, true
}

// done ends the listing of a taken directory, pushing the subdirectories
// it found, or stopping the walk if it failed.
func (q *dirStack) done(sub []dirTask, failed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.tasks = append(q.tasks, sub...)
	q.busy--
	q.stop = q.stop || failed
	q.cond.Broadcast()
}

// walkDir watches and lists one directory, sends its entry and those of
// its non-directory children (regular files a batch at a time, looked up
// in the sink), and returns its subdirectories appended to stack.
func (r *runner) walkDir(t dirTask, stack []dirTask, send func(walkItem) error) ([]dirTask, error) {
	if t.watch {
		if err := r.ws.watch(t.path, devIno{t.st.Dev, t.st.Ino}); err != nil {
			if isGone(err) {
				return stack, nil
			}
			if err := send(walkItem{kind: itemUnwatched, path: t.path, err: err}); err != nil {
				return stack, err
			}
			t.watch = false
		}
	}
	fd, err := r.openDir(t.path)
	if err != nil {
		if isGone(err) || errors.Is(err, unix.ELOOP) {
			// Gone, or replaced by a non-directory: the event for its
			// parent re-checks it.
			r.ws.drop(t.path)
			return stack, nil
		}
		if err := send(walkItem{path: t.path, st: t.st, observed: t.observed}); err != nil {
			return stack, err
		}
		return stack, send(walkItem{kind: itemUnreadable, path: t.path, err: err})
	}
	f := os.NewFile(uintptr(fd), t.path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Dev != t.st.Dev || st.Ino != t.st.Ino {
		// Replaced between lstat and open; the parent's event re-checks
		// it. Until then what was known under it stays.
		r.ws.drop(t.path)
		return stack, send(walkItem{kind: itemHeld, path: t.path})
	}
	if err := send(walkItem{path: t.path, st: st, observed: t.observed}); err != nil {
		return stack, err
	}
	var names []string
	var listedReg []bool // with r.listedOnly: the listing says regular file
	if r.listedOnly {
		var ents []os.DirEntry
		ents, err = f.ReadDir(-1)
		names, listedReg = make([]string, len(ents)), make([]bool, len(ents))
		for i, e := range ents {
			names[i], listedReg[i] = e.Name(), e.Type().IsRegular()
		}
	} else {
		names, err = f.Readdirnames(-1)
	}
	if err != nil {
		// Listed part way: what it listed is reported, the rest kept.
		if err := send(walkItem{kind: itemUnreadable, path: t.path, err: err}); err != nil {
			return stack, err
		}
	}
	prefix := t.path + "/"
	if t.path == "/" {
		prefix = "/"
	}
	var regular []walkItem // up to lookupBatch, allocated at the first
	flush := func() error {
		if len(regular) == 0 {
			return nil
		}
		r.lookupAll(regular)
		for i := range regular {
			if err := send(regular[i]); err != nil {
				return err
			}
		}
		regular = regular[:0]
		return nil
	}
	for i, name := range names {
		p := prefix + name
		if r.set.excluded(p) {
			continue
		}
		now := time.Now()
		if listedReg != nil && listedReg[i] {
			// Opened and fstat'ed by a hasher (observeListed).
			if err := send(walkItem{path: p, observed: now, listed: true}); err != nil {
				return stack, err
			}
			continue
		}
		var cst unix.Stat_t
		if err := unix.Fstatat(fd, name, &cst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			switch {
			case isGone(err):
			case isDenied(err):
				if err := send(walkItem{kind: itemUnreadable, path: p, err: err}); err != nil {
					return stack, err
				}
			default:
				r.logger.Warn("cannot stat path", "path", r.display(p), "err", err)
			}
			continue
		}
		it := walkItem{path: p, st: cst, observed: now}
		switch cst.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			stack = append(stack, dirTask{path: p, st: cst, watch: t.watch, observed: now})
			continue
		case unix.S_IFLNK:
			link, err := readlinkAt(fd, name)
			if err != nil {
				continue // replaced meanwhile; its event re-checks it
			}
			it.link = link
		case unix.S_IFREG:
			if r.batcher != nil {
				if regular == nil {
					regular = make([]walkItem, 0, min(lookupBatch, len(names)))
				}
				regular = append(regular, it)
				if len(regular) == lookupBatch {
					if err := flush(); err != nil {
						return stack, err
					}
				}
				continue
			}
		}
		if err := send(it); err != nil {
			return stack, err
		}
	}
	return stack, flush()
}

// lookupBatch is how many of a directory's regular files a walker looks
// up in the sink at once, before sending them.
const lookupBatch = 256

// lookupAll sets each item's prev to what the sink has for it, in one
// BatchLooker call: the stat fast path's lookups are made by the walkers,
// a directory's files at a time, not one by one on the goroutine that
// reports every entry.
func (r *runner) lookupAll(items []walkItem) {
	keys := make([]fact.Key, len(items))
	for i := range items {
		keys[i] = r.keyOf(items[i].path)
	}
	prev := make([]*plumbv1.Fact, len(items))
	r.batcher.LookupAll(keys, prev)
	for i := range items {
		items[i].prev, items[i].looked = prev[i], true
	}
}
