package file

import (
	"time"

	"golang.org/x/sys/unix"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
)

// inotify reports a change under the name it was made through: a write to
// a file through one hard link says nothing about its other names, whose
// facts (content, mode, owner: all shared by the inode) would silently go
// stale. So the source remembers the names of every multiply-linked file
// it has seen, and when it finds one changed, it looks at the others
// again. A look that finds nothing new does not spread, so this ends.
//
// A name the source never saw linked (it had one link when last looked at,
// and another name was made for it since, which inotify reports only under
// the new name) is found when a name is seen for an inode with more links
// than names known: the recorded facts are searched, in one pass for every
// inode waiting, at most linkSearches times until the inode's names or
// link count change.
// Links from outside the watched roots cannot be followed: inotify never
// says a word about them.

// linkSearchDelay gathers the inodes of a burst into one search. A search
// that finds fewer names than the inode has links is made once more after
// linkRetryDelay, when the events of a busy moment (a name just renamed
// into place, a directory just moved) have been handled; names still
// missing then are beyond the roots, and not searched for again until the
// inode's names or link count change.
const (
	linkSearchDelay = 50 * time.Millisecond
	linkRetryDelay  = 500 * time.Millisecond
	linkSearches    = 2
)

// linkSet maps the regular files with more than one link to their names
// under the roots, and back.
type linkSet struct {
	names map[devIno]map[string]struct{}
	inode map[string]devIno
	nlink map[devIno]uint64 // link count when last seen
	// searches counts the searches for an inode's names since its names
	// or link count last changed, so that names beyond the roots cost
	// linkSearches searches, not one per change; wanted holds the inodes
	// waiting for the next search.
	searches map[devIno]int
	wanted   map[devIno]struct{}
}

func newLinkSet() *linkSet {
	return &linkSet{
		names: map[devIno]map[string]struct{}{}, inode: map[string]devIno{},
		nlink: map[devIno]uint64{}, searches: map[devIno]int{}, wanted: map[devIno]struct{}{},
	}
}

// note records what st says of path p: one name of its inode if it is a
// regular file with other links, else nothing.
func (l *linkSet) note(p string, st *unix.Stat_t) {
	id := devIno{st.Dev, st.Ino}
	if old, ok := l.inode[p]; ok && old == id && st.Nlink > 1 {
		l.setNlink(id, uint64(st.Nlink))
		return
	}
	l.forget(p)
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink < 2 {
		return
	}
	l.add(p, id)
	l.setNlink(id, uint64(st.Nlink))
}

func (l *linkSet) setNlink(id devIno, n uint64) {
	if l.nlink[id] != n {
		delete(l.searches, id)
	}
	l.nlink[id] = n
}

// add records p as a name of id; a new name makes the inode worth
// searching for again.
func (l *linkSet) add(p string, id devIno) {
	if _, known := l.names[id][p]; !known {
		delete(l.searches, id)
	}
	l.inode[p] = id
	if l.names[id] == nil {
		l.names[id] = map[string]struct{}{}
	}
	l.names[id][p] = struct{}{}
}

// forget drops p.
func (l *linkSet) forget(p string) {
	id, ok := l.inode[p]
	if !ok {
		return
	}
	delete(l.inode, p)
	delete(l.names[id], p)
	if len(l.names[id]) == 0 {
		delete(l.names, id)
		delete(l.nlink, id)
		delete(l.searches, id)
		// A search already wanted still runs: the name that asked for
		// it may have moved, the others are still to be found.
	}
}

// forgetUnder drops every name at or under dir.
func (l *linkSet) forgetUnder(dir string) {
	if len(l.inode) == 0 {
		return
	}
	for p := range l.inode {
		if withinOrSame(p, dir) {
			l.forget(p)
		}
	}
}

// others returns the other known names of p's inode.
func (l *linkSet) others(p string) []string {
	id, ok := l.inode[p]
	if !ok {
		return nil
	}
	var out []string
	for q := range l.names[id] {
		if q != p {
			out = append(out, q)
		}
	}
	return out
}

// recheckLinks has the other names of p looked at again, once their
// debounce window closes: p changed, and so did they. Names not known yet
// are searched for.
func (r *runner) recheckLinks(p string) {
	id, ok := r.links.inode[p]
	if !ok {
		return
	}
	for _, q := range r.links.others(p) {
		// A name the source has not seen go (its directory moved, say)
		// is not one of this file's any more.
		var st unix.Stat_t
		if err := unix.Lstat(q, &st); err != nil || (devIno{st.Dev, st.Ino}) != id {
			r.links.forget(q)
			if err != nil && !isGone(err) {
				continue
			}
		}
		r.recheck(q)
	}
	r.searchIfShort(p, id)
}

// searchIfShort has the names of id (p's inode) searched for if it has
// more links than names known, and has not been searched for too often.
func (r *runner) searchIfShort(p string, id devIno) {
	n, known := r.links.nlink[id], len(r.links.names[id])
	if n > uint64(known) && r.links.searches[id] < linkSearches {
		r.logger.Debug("hard-linked file with names not known; searching for them", "path", r.display(p),
			"links", n, "names_known", known, "searches", r.links.searches[id])
		r.wantLinks(id, linkSearchDelay)
	}
}

// noteLinks records what st says of p, a path just looked at, and if it
// is a name of an inode with more links than names known, has the others
// searched for: the file may have been linked to a name the source had
// seen with one link, which inotify never mentions again.
func (r *runner) noteLinks(p string, st *unix.Stat_t) {
	r.links.note(p, st)
	if id, ok := r.links.inode[p]; ok {
		r.searchIfShort(p, id)
	}
}

// wantLinks has id's names searched for within delay, or later if the
// last search was recent: searches take at most about a tenth of the
// source's time, however many links a package upgrade makes.
func (r *runner) wantLinks(id devIno, delay time.Duration) {
	r.links.wanted[id] = struct{}{}
	if r.linkSearchC == nil {
		delay = max(delay, time.Until(r.linkNext))
		r.linkSearch = time.NewTimer(delay)
		r.linkSearchC = r.linkSearch.C
	}
}

// recheck has p looked at again when its debounce window closes.
func (r *runner) recheck(p string) {
	if r.deb.event(p, time.Now(), true) {
		r.deferEvent(p)
	}
}

// findLinks searches the recorded facts under every root for the names of
// the inodes waiting, and has each name it finds looked at again.
func (r *runner) findLinks() {
	r.linkSearch, r.linkSearchC = nil, nil
	began := time.Now()
	defer func() { r.linkNext = time.Now().Add(10 * time.Since(began)) }()
	wanted := r.links.wanted
	r.links.wanted = map[devIno]struct{}{}
	facts, ok := r.sink.(source.FactReader)
	if !ok || len(wanted) == 0 {
		return
	}
	var found []string
	for _, rt := range r.roots {
		err := facts.Facts(r.scope(rt.path), func(f *plumbv1.Fact) error {
			a := f.GetFile()
			if a.GetType() != plumbv1.FileType_FILE_TYPE_REGULAR {
				return nil
			}
			id := devIno{a.GetDevice(), a.GetInode()}
			if _, ok := wanted[id]; ok {
				p := r.set.fsPath(string(f.GetKey()))
				if old, known := r.links.inode[p]; !known || old != id {
					r.links.forget(p)
					r.links.add(p, id)
				}
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			r.logger.Warn("cannot search the recorded facts for hard links", "err", err)
		}
	}
	for _, p := range found {
		r.recheck(p)
	}
	for id := range wanted {
		r.links.searches[id]++
		if uint64(len(r.links.names[id])) < r.links.nlink[id] && r.links.searches[id] < linkSearches {
			r.wantLinks(id, linkRetryDelay)
		}
	}
	if len(found) > 0 {
		r.logger.Debug("found other names of changed hard-linked files", "inodes", len(wanted), "names", len(found))
	}
}
