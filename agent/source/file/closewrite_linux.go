package file

import (
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// closeWrites is a second inotify instance beside fsnotify's that asks
// for the one event fsnotify v1.10 does not let a caller ask for:
// IN_CLOSE_WRITE, "a writer closed this file". It watches the same
// directories as the source's watchSet and hands the path of every file
// closed after writing to the event loop, which then reads the file at
// once instead of waiting for its debounce window to close (see
// onCloseWrite).
//
// It is only ever a shortcut: every change still arrives through fsnotify
// and its debounce window, so a close-write that is lost (the channel is
// full, its own queue overflowed, a watch could not be added, the
// instance could not be created) delays a change by one window and
// nothing more. Its watches count against the same per-user limit as
// fsnotify's; when either runs out, this instance is closed, freeing its
// watches for fsnotify (see watchAdder).
type closeWrites struct {
	f   *os.File
	fd  int
	out chan string

	mu     sync.Mutex
	byWd   map[int32]string // guarded by mu
	byPath map[string]int32 // guarded by mu
	closed bool             // guarded by mu

	lost atomic.Int64 // signals dropped: channel full or queue overflow
}

// closeWriteQueue bounds the paths waiting for the event loop; past it,
// signals are dropped (the debounce window still handles those paths).
const closeWriteQueue = 1024

// closeWriteMask is what the instance asks for. IN_ONLYDIR: only
// directories are watched, as by the watchSet.
const closeWriteMask = unix.IN_CLOSE_WRITE | unix.IN_ONLYDIR

func newCloseWrites() (*closeWrites, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	c := &closeWrites{
		// A non-blocking fd: os.File reads it through the runtime's
		// poller, and Close wakes a blocked Read.
		f:      os.NewFile(uintptr(fd), "inotify close-write"),
		fd:     fd,
		out:    make(chan string, closeWriteQueue),
		byWd:   map[int32]string{},
		byPath: map[string]int32{},
	}
	go c.read()
	return c, nil
}

// C delivers the paths of files closed after writing. It is closed when
// the instance is.
func (c *closeWrites) C() <-chan string { return c.out }

// add watches directory dir.
func (c *closeWrites) add(dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	wd, err := unix.InotifyAddWatch(c.fd, dir, closeWriteMask)
	if err != nil {
		return err
	}
	w := int32(wd)
	if old, ok := c.byWd[w]; ok && old != dir {
		// The same directory under a new name: the kernel keeps one
		// watch per inode and instance.
		delete(c.byPath, old)
	}
	if old, ok := c.byPath[dir]; ok && old != w {
		delete(c.byWd, old)
	}
	c.byWd[w] = dir
	c.byPath[dir] = w
	return nil
}

// remove stops watching dir, if it is watched.
func (c *closeWrites) remove(dir string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.byPath[dir]
	if !ok || c.closed {
		return
	}
	delete(c.byPath, dir)
	delete(c.byWd, w)
	// The kernel may have dropped it already (directory deleted).
	_, _ = unix.InotifyRmWatch(c.fd, uint32(w))
}

// close ends the instance and frees its watches, and reports whether it
// was open. C is closed once the reader has stopped.
func (c *closeWrites) close() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.closed = true
	clear(c.byWd)
	clear(c.byPath)
	_ = c.f.Close()
	return true
}

// read turns the instance's events into paths until it is closed.
func (c *closeWrites) read() {
	defer close(c.out)
	// Room for many events with names of the longest length.
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := c.f.Read(buf)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		c.parse(buf[:n])
	}
}

// parse handles one read's worth of events. The kernel wrote them, but
// every length is still checked against the buffer.
func (c *closeWrites) parse(b []byte) {
	for len(b) >= unix.SizeofInotifyEvent {
		wd := int32(binary.NativeEndian.Uint32(b[0:4]))
		mask := binary.NativeEndian.Uint32(b[4:8])
		nameLen := int(binary.NativeEndian.Uint32(b[12:16]))
		end := unix.SizeofInotifyEvent + nameLen
		if nameLen < 0 || end > len(b) {
			return
		}
		name := b[unix.SizeofInotifyEvent:end]
		for len(name) > 0 && name[len(name)-1] == 0 {
			name = name[:len(name)-1]
		}
		b = b[end:]
		switch {
		case mask&unix.IN_Q_OVERFLOW != 0:
			c.lost.Add(1)
		case mask&unix.IN_IGNORED != 0:
			c.mu.Lock()
			if dir, ok := c.byWd[wd]; ok {
				delete(c.byWd, wd)
				if c.byPath[dir] == wd {
					delete(c.byPath, dir)
				}
			}
			c.mu.Unlock()
		case mask&unix.IN_CLOSE_WRITE != 0 && mask&unix.IN_ISDIR == 0 && len(name) > 0:
			c.mu.Lock()
			dir, ok := c.byWd[wd]
			c.mu.Unlock()
			if !ok {
				continue // a watch removed since
			}
			select {
			case c.out <- dir + "/" + string(name):
			default:
				c.lost.Add(1)
			}
		}
	}
}
