package file

import (
	"context"

	"github.com/fsnotify/fsnotify"
)

// maxPumped bounds the events waiting between fsnotify and the source; as
// many as the kernel's default inotify queue.
const maxPumped = 16384

// maxPumpedErrors bounds the errors waiting; later ones are dropped (an
// overflow is never dropped: it comes with an emptied event queue).
const maxPumpedErrors = 64

// pump moves fsnotify's events and errors to channels of its own, through
// a bounded queue, so that fsnotify's reader is never blocked on the
// source.
//
// fsnotify (v1.10) sends some errors while holding the watcher's lock
// (after IN_MOVE_SELF it removes the watch and reports a failure to do
// so), and Add and Remove take that lock: a source that reads Errors and
// calls Remove from the same goroutine deadlocks if such an error comes
// while it is in Remove. The pump keeps reading meanwhile. Past maxPumped
// waiting events, the queue is dropped and an overflow reported, as the
// kernel does with its own queue: the source rescans.
//
// The returned channels close after fsnotify's do and the queue has
// drained, or when ctx ends.
func pump(ctx context.Context, events <-chan fsnotify.Event, errs <-chan error) (<-chan fsnotify.Event, <-chan error) {
	evOut := make(chan fsnotify.Event)
	errOut := make(chan error)
	go func() {
		defer close(evOut)
		defer close(errOut)
		var queue []fsnotify.Event
		var errQueue []error
		for events != nil || errs != nil || len(queue) > 0 || len(errQueue) > 0 {
			var out chan<- fsnotify.Event
			var next fsnotify.Event
			if len(queue) > 0 {
				out, next = evOut, queue[0]
			}
			var errSend chan<- error
			var nextErr error
			if len(errQueue) > 0 {
				errSend, nextErr = errOut, errQueue[0]
			}
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-events:
				if !ok {
					events = nil
					continue
				}
				if len(queue) >= maxPumped {
					queue = nil
					errQueue = append(errQueue[:min(len(errQueue), maxPumpedErrors-1)], fsnotify.ErrEventOverflow)
				}
				queue = append(queue, ev)
			case err, ok := <-errs:
				if !ok {
					errs = nil
					continue
				}
				if len(errQueue) < maxPumpedErrors {
					errQueue = append(errQueue, err)
				}
			case out <- next:
				queue[0] = fsnotify.Event{}
				queue = queue[1:]
			case errSend <- nextErr:
				errQueue[0] = nil
				errQueue = errQueue[1:]
			}
		}
	}()
	return evOut, errOut
}
