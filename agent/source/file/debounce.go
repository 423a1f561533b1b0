package file

import "time"

// debouncer coalesces bursts of events per path. The first event for a
// path opens a window and is handled at once (low latency) unless it is a
// settling event (create, write), which is handled when the window closes;
// further events in the window only mark the path pending, and a pending
// path is handled once more when its window closes, which opens a new
// window. A path that
// keeps changing is thus handled at most about once per window, and its
// last change is never lost.
//
// Every window has the same length, so windows close in the order they
// opened and a FIFO queue keeps them sorted by deadline. Not safe for
// concurrent use: the source's event loop owns it.
type debouncer struct {
	window  time.Duration
	open    map[string]*window
	queue   []*window
	head    int
	scratch []string
}

type window struct {
	path     string
	deadline time.Time
	pending  bool
}

func newDebouncer(d time.Duration) *debouncer {
	return &debouncer{window: d, open: map[string]*window{}}
}

// event records an event for path at now and reports whether the caller
// should handle path now. A settling event (a write in progress) opens
// its window already pending: the path is handled when the window closes,
// not at once, so a file being written is read after the writer paused.
func (d *debouncer) event(path string, now time.Time, settle bool) bool {
	if w, ok := d.open[path]; ok {
		w.pending = true
		return false
	}
	if d.window > 0 {
		d.push(path, now, settle)
		return !settle
	}
	return true
}

// closed records that a writer closed path at now, and that the caller
// handles it now: its window, if open, is no longer pending, and if none
// is open one opens, so that events of the same write still arriving fold
// into it rather than trigger another read at once.
func (d *debouncer) closed(path string, now time.Time) {
	if w, ok := d.open[path]; ok {
		w.pending = false
		return
	}
	if d.window > 0 {
		d.push(path, now, false)
	}
}

// next returns when the earliest window closes.
func (d *debouncer) next() (time.Time, bool) {
	if d.head == len(d.queue) {
		return time.Time{}, false
	}
	return d.queue[d.head].deadline, true
}

// due closes the windows that have ended by now and returns the paths that
// are pending in them, in the order their windows opened. Each returned
// path gets a new window. The slice is reused by the next call.
func (d *debouncer) due(now time.Time) []string {
	out := d.scratch[:0]
	var again []*window
	for d.head < len(d.queue) {
		w := d.queue[d.head]
		if w.deadline.After(now) {
			break
		}
		d.queue[d.head] = nil
		d.head++
		if !w.pending || d.window == 0 {
			delete(d.open, w.path)
			if w.pending {
				out = append(out, w.path)
			}
			continue
		}
		out = append(out, w.path)
		w.pending = false
		w.deadline = now.Add(d.window)
		again = append(again, w)
	}
	d.queue = append(d.queue, again...)
	d.compact()
	d.scratch = out
	return out
}

// len returns how many windows are open.
func (d *debouncer) len() int { return len(d.open) }

func (d *debouncer) push(path string, now time.Time, pending bool) {
	w := &window{path: path, deadline: now.Add(d.window), pending: pending}
	d.open[path] = w
	d.queue = append(d.queue, w)
}

// compact drops the consumed front of the queue once it is half of it.
func (d *debouncer) compact() {
	if d.head == 0 || d.head < len(d.queue)/2 {
		return
	}
	n := copy(d.queue, d.queue[d.head:])
	clear(d.queue[n:])
	d.queue = d.queue[:n]
	d.head = 0
}
