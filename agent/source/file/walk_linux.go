package file

import (
	"context"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
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

// walk lists the tree at top depth first and sends what it finds. Each
// directory is watched before it is listed, so an entry created in it
// later is reported by an event, and one created earlier by the listing.
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
	stack := []dirTask{{path: top, st: st, watch: true, observed: now}}
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		var err error
		stack, err = r.walkDir(t, stack, send)
		if err != nil {
			return err
		}
	}
	return nil
}

// walkDir watches and lists one directory, sends its entry and those of
// its non-directory children, and pushes its subdirectories on stack.
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
	names, err := f.Readdirnames(-1)
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
	for _, name := range names {
		p := prefix + name
		if r.set.excluded(p) {
			continue
		}
		now := time.Now()
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
		}
		if err := send(it); err != nil {
			return stack, err
		}
	}
	return stack, nil
}
