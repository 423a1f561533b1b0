package file

import (
	"time"

	"golang.org/x/sys/unix"
)

// inotify reports a change under the name it was made through: a write to
// a file through one hard link says nothing about its other names, whose
// facts (content, mode, owner: all shared by the inode) would silently go
// stale. So the source remembers the names of every multiply-linked file
// it has seen, and when it finds one changed, it looks at the others
// again. A look that finds nothing new does not spread, so this ends.
// Links from outside the watched roots cannot be followed: inotify never
// says a word about them.

// linkSet maps the regular files with more than one link to their names
// under the roots, and back.
type linkSet struct {
	names map[devIno]map[string]struct{}
	inode map[string]devIno
}

func newLinkSet() *linkSet {
	return &linkSet{names: map[devIno]map[string]struct{}{}, inode: map[string]devIno{}}
}

// note records what st says of path p: one name of its inode if it is a
// regular file with other links, else nothing.
func (l *linkSet) note(p string, st *unix.Stat_t) {
	id := devIno{st.Dev, st.Ino}
	if old, ok := l.inode[p]; ok && old == id && st.Nlink > 1 {
		return
	}
	l.forget(p)
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink < 2 {
		return
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
// debounce window closes: p changed, and so did they.
func (r *runner) recheckLinks(p string) {
	for _, q := range r.links.others(p) {
		if r.deb.event(q, time.Now(), true) {
			r.deferEvent(q)
		}
	}
}
