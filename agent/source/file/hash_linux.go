package file

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"golang.org/x/sys/unix"
)

// errChanged says the path no longer names the entry that was stat'ed: it
// was replaced, or is not a regular file any more. The caller stats again.
var errChanged = errors.New("entry changed while being read")

// openFlags never follow a symlink, never block on a FIFO or device, and
// never leak the descriptor into a child process.
const openFlags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC | unix.O_NOCTTY

// openRegular opens path for hashing; a hook so tests can fail it.
func openRegular(path string) (int, error) {
	for {
		fd, err := unix.Open(path, openFlags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 128<<10)
	return &b
}}

// hashPool reuses SHA-256 states: a scan hashes every file.
var hashPool = sync.Pool{New: func() any { return sha256.New() }}

// hashRegular streams the content of the regular file at path, which lstat
// found to be want (nil: its directory listing said regular file, and
// nothing more is known), into SHA-256. It opens without following symlinks and
// without blocking, and reads only if the opened descriptor is still a
// regular file with want's device and inode, so a FIFO, socket or device
// swapped in meanwhile is never read. It returns the fstat of what it read.
//
// With capture > 0 it also returns the content it hashed, if that was at
// most capture bytes (non-nil, if empty): the very bytes of the hash, so
// that a diff never shows content other than the one the digest names.
func hashRegular(open func(string) (int, error), path string, want *unix.Stat_t, capture int64) ([]byte, []byte, unix.Stat_t, error) {
	var got unix.Stat_t
	fd, err := open(path)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENXIO) || errors.Is(err, unix.EISDIR) {
			// A symlink, socket or directory now stands at path.
			return nil, nil, got, errChanged
		}
		return nil, nil, got, fmt.Errorf("open %q: %w", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &got); err != nil {
		return nil, nil, got, fmt.Errorf("fstat %q: %w", path, err)
	}
	if got.Mode&unix.S_IFMT != unix.S_IFREG || (want != nil && (got.Dev != want.Dev || got.Ino != want.Ino)) {
		return nil, nil, got, errChanged
	}
	h := hashPool.Get().(hash.Hash)
	defer hashPool.Put(h)
	h.Reset()
	var content []byte
	if capture > 0 && got.Size <= capture {
		// Read up to one byte past the bound: a file that grew since
		// fstat is not captured, only hashed.
		content, err = io.ReadAll(io.LimitReader(fdReader(fd), capture+1))
		if err != nil {
			return nil, nil, got, fmt.Errorf("read %q: %w", path, err)
		}
		h.Write(content)
		if int64(len(content)) > capture {
			content = nil
		} else if content == nil {
			content = []byte{}
		}
	}
	if content == nil {
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		if err := hashToEnd(h, fd, *bp, got.Size); err != nil {
			return nil, nil, got, fmt.Errorf("read %q: %w", path, err)
		}
	}
	return h.Sum(nil), content, got, nil
}

// hashToEnd writes the rest of fd's content into h. It stops at the
// first empty read, or, sparing that read, at a short one that ends
// exactly at size, the length fstat gave: a read of a regular file
// returns less than asked only at its end. Content appended after that
// read is what the file's next modify event reports, as it would be had
// the empty read come first.
func hashToEnd(h hash.Hash, fd int, buf []byte, size int64) error {
	var total int64
	for {
		n, err := fdReader(fd).Read(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		h.Write(buf[:n])
		total += int64(n)
		if n < len(buf) && total == size {
			return nil
		}
	}
}

// fdReader reads a raw descriptor, sparing the os.File and poller set-up
// per file.
type fdReader int

func (r fdReader) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(int(r), p)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}
