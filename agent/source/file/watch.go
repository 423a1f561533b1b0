package file

import (
	"path/filepath"
	"sync"
	"sync/atomic"
)

// devIno names a directory independently of its path.
type devIno struct{ dev, ino uint64 }

// watchSet keeps the source's own record of which directories under its
// roots carry an inotify watch, by path and by inode, so that it can drop a
// whole subtree's watches at once and never lets one directory be watched
// under two paths.
//
// fsnotify keys watches by path and cannot follow a directory that moves,
// so after "mv a b" the kernel's watch on the directory would still report
// paths under a/. Before a directory is watched at a new path, any watch it
// has under an old path, and every watch below that, is removed first.
//
// The scan's walker adds watches while the event loop may not, so a mutex
// guards the maps.
type watchSet struct {
	add    func(string) error
	remove func(string) error
	count  *atomic.Int64 // mirrors len(byPath) for observers

	mu       sync.Mutex
	byPath   map[string]devIno              // guarded by mu
	byInode  map[devIno]string              // guarded by mu
	children map[string]map[string]struct{} // parent path → watched child dirs; guarded by mu
}

func newWatchSet(add, remove func(string) error, count *atomic.Int64) *watchSet {
	return &watchSet{
		add:      add,
		remove:   remove,
		count:    count,
		byPath:   map[string]devIno{},
		byInode:  map[devIno]string{},
		children: map[string]map[string]struct{}{},
	}
}

// watch makes sure the directory at path, with identity id, is watched.
// It is a no-op if it already is. The error is the one from adding the
// watch; the caller classifies it.
func (w *watchSet) watch(path string, id devIno) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if cur, ok := w.byPath[path]; ok {
		if cur == id {
			return nil
		}
		w.dropLocked(path)
	}
	if old, ok := w.byInode[id]; ok {
		w.dropLocked(old)
	}
	if err := w.add(path); err != nil {
		return err
	}
	w.byPath[path] = id
	w.byInode[id] = path
	w.count.Add(1)
	parent := filepath.Dir(path)
	if w.children[parent] == nil {
		w.children[parent] = map[string]struct{}{}
	}
	w.children[parent][path] = struct{}{}
	return nil
}

// watched reports whether path is watched, and as which directory.
func (w *watchSet) watched(path string) (devIno, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	id, ok := w.byPath[path]
	return id, ok
}

// drop removes the watches on path and every directory below it.
func (w *watchSet) drop(path string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dropLocked(path)
}

// sweep removes the watches at and below top whose directories keep is
// not holding: directories a scan of top did not find.
func (w *watchSet) sweep(top string, keep map[string]struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var stale []string
	w.walkLocked(top, func(p string) {
		if _, ok := keep[p]; !ok {
			stale = append(stale, p)
		}
	})
	for _, p := range stale {
		w.dropLocked(p)
	}
}

// forgetAll clears the record without removing the watches, for when the
// watcher itself is closing.
func (w *watchSet) forgetAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.count.Add(-int64(len(w.byPath)))
	clear(w.byPath)
	clear(w.byInode)
	clear(w.children)
}

func (w *watchSet) dropLocked(path string) {
	var all []string
	w.walkLocked(path, func(p string) { all = append(all, p) })
	for _, p := range all {
		id, ok := w.byPath[p]
		if !ok {
			continue
		}
		// The kernel may have dropped the watch already (directory
		// deleted); fsnotify then says so, and that is fine.
		_ = w.remove(p)
		delete(w.byPath, p)
		w.count.Add(-1)
		if w.byInode[id] == p {
			delete(w.byInode, id)
		}
		parent := filepath.Dir(p)
		delete(w.children[parent], p)
		if len(w.children[parent]) == 0 {
			delete(w.children, parent)
		}
	}
}

// walkLocked calls fn for path, if watched, and each watched directory
// below it, parents first.
func (w *watchSet) walkLocked(path string, fn func(string)) {
	if _, ok := w.byPath[path]; ok {
		fn(path)
	}
	var visit func(string)
	visit = func(p string) {
		for c := range w.children[p] {
			fn(c)
			visit(c)
		}
	}
	visit(path)
}
