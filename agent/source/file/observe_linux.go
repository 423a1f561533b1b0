package file

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
)

// errGone says the path does not exist (any more); it is not reported.
var errGone = errors.New("path is gone")

// errUnstable says the path kept changing type or inode under us; a later
// event reports it.
var errUnstable = errors.New("path keeps changing")

// unreadableError says an entry exists but its content or listing could not
// be read; its metadata may still be known.
type unreadableError struct{ err error }

func (e *unreadableError) Error() string { return "unreadable: " + e.err.Error() }
func (e *unreadableError) Unwrap() error { return e.err }

func isGone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)
}

func isDenied(err error) bool {
	return errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)
}

func fileType(mode uint32) plumbv1.FileType {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return plumbv1.FileType_FILE_TYPE_REGULAR
	case unix.S_IFDIR:
		return plumbv1.FileType_FILE_TYPE_DIRECTORY
	case unix.S_IFLNK:
		return plumbv1.FileType_FILE_TYPE_SYMLINK
	case unix.S_IFIFO:
		return plumbv1.FileType_FILE_TYPE_FIFO
	case unix.S_IFSOCK:
		return plumbv1.FileType_FILE_TYPE_SOCKET
	case unix.S_IFCHR:
		return plumbv1.FileType_FILE_TYPE_CHAR_DEVICE
	case unix.S_IFBLK:
		return plumbv1.FileType_FILE_TYPE_BLOCK_DEVICE
	}
	return plumbv1.FileType_FILE_TYPE_UNSPECIFIED
}

// attrsOf returns the attributes stat gives: everything but the content
// hash and the link target. Size is kept for regular files and symlinks
// only; a directory's size depends on the filesystem, not configuration.
func attrsOf(st *unix.Stat_t) *plumbv1.FileAttrs {
	a := &plumbv1.FileAttrs{
		Type:          fileType(st.Mode),
		Mode:          st.Mode & 0o7777,
		Uid:           st.Uid,
		Gid:           st.Gid,
		MtimeUnixNano: st.Mtim.Nano(),
		CtimeUnixNano: st.Ctim.Nano(),
		Inode:         st.Ino,
		Device:        st.Dev,
	}
	switch a.Type {
	case plumbv1.FileType_FILE_TYPE_REGULAR, plumbv1.FileType_FILE_TYPE_SYMLINK:
		a.Size = st.Size
	}
	return a
}

// reusableHash returns the content hash prev recorded if the regular file
// st describes is provably the one prev hashed: same size, mtime, ctime,
// inode and device, and prev was observed well after that ctime.
func reusableHash(prev *plumbv1.Fact, st *unix.Stat_t) []byte {
	a := prev.GetFile()
	if a == nil || a.GetType() != plumbv1.FileType_FILE_TYPE_REGULAR || len(a.GetSha256()) != 32 {
		return nil
	}
	if a.GetSize() != st.Size || a.GetMtimeUnixNano() != st.Mtim.Nano() ||
		a.GetCtimeUnixNano() != st.Ctim.Nano() || a.GetInode() != st.Ino || a.GetDevice() != st.Dev {
		return nil
	}
	if !source.Settled(prev) {
		return nil
	}
	return a.GetSha256()
}

// readlinkAt reads the target of the symlink name in directory dirfd
// (unix.AT_FDCWD for a path), as raw bytes.
func readlinkAt(dirfd int, name string) ([]byte, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return nil, err
		}
		if n < size {
			return bytes.Clone(buf[:n]), nil
		}
	}
}

// observer turns a path into file attributes. It is safe for concurrent
// use: the scan's hash workers share one.
type observer struct {
	open  func(string) (int, error)
	opens func() // counts opens for hashing; tests read it
}

// observeListed is observe for a regular file known only from its
// directory listing (its type, not its lstat): it opens the file first
// and takes the metadata from the descriptor's fstat, sparing the lstat.
// If that does not give a regular file read whole (it was replaced, or
// cannot be opened), it goes observe's way, from an lstat. It also
// returns the stat its attributes come from, nil when there is none.
func (o *observer) observeListed(path string, capture int64) (*plumbv1.FileAttrs, []byte, *unix.Stat_t, error) {
	if o.opens != nil {
		o.opens()
	}
	sum, content, got, err := hashRegular(o.open, path, nil, capture)
	if err == nil {
		a := attrsOf(&got)
		a.Sha256 = sum
		return a, content, &got, nil
	}
	st := new(unix.Stat_t)
	if err := unix.Lstat(path, st); err != nil {
		a, content, err := o.observe(path, nil, nil, capture) // classifies the error
		return a, content, nil, err
	}
	a, content, err := o.observe(path, st, nil, capture)
	return a, content, st, err
}

// observe returns the attributes of path. st is its lstat if the caller
// has one, prev its last recorded fact for the stat fast path (nil skips
// it). It returns errGone if path does not exist, errUnstable if it keeps
// being replaced, and an *unreadableError together with metadata-only
// attributes if a regular file cannot be opened.
//
// With capture > 0, the content of a regular file that is read (not taken
// from prev) and holds at most capture bytes is returned too (see
// hashRegular); otherwise content is nil.
func (o *observer) observe(path string, st *unix.Stat_t, prev *plumbv1.Fact, capture int64) (*plumbv1.FileAttrs, []byte, error) {
	for attempt := 0; attempt < 3; attempt++ {
		if st == nil {
			st = new(unix.Stat_t)
			if err := unix.Lstat(path, st); err != nil {
				if isGone(err) {
					return nil, nil, errGone
				}
				if isDenied(err) {
					return nil, nil, &unreadableError{fmt.Errorf("lstat %q: %w", path, err)}
				}
				return nil, nil, fmt.Errorf("lstat %q: %w", path, err)
			}
		}
		a := attrsOf(st)
		switch a.Type {
		case plumbv1.FileType_FILE_TYPE_REGULAR:
			if sum := reusableHash(prev, st); sum != nil {
				a.Sha256 = sum
				return a, nil, nil
			}
			if o.opens != nil {
				o.opens()
			}
			sum, content, got, err := hashRegular(o.open, path, st, capture)
			switch {
			case err == nil:
				a = attrsOf(&got)
				a.Sha256 = sum
				return a, content, nil
			case errors.Is(err, errChanged):
				st = nil
				continue
			case isGone(err):
				return nil, nil, errGone
			case isDenied(err):
				return a, nil, &unreadableError{err}
			}
			return nil, nil, err
		case plumbv1.FileType_FILE_TYPE_SYMLINK:
			target, err := readlinkAt(unix.AT_FDCWD, path)
			switch {
			case err == nil:
				a.LinkTarget = target
				return a, nil, nil
			case errors.Is(err, unix.EINVAL):
				st = nil // no longer a symlink
				continue
			case isGone(err):
				return nil, nil, errGone
			}
			return nil, nil, fmt.Errorf("readlink %q: %w", path, err)
		}
		return a, nil, nil
	}
	return nil, nil, errUnstable
}
