package alert

import (
	"errors"
	"net/url"
	"sync"
	"time"
)

// Status is where one notifier's deliveries stand.
type Status struct {
	Name             string
	Cursor, Backlog  uint64
	LastSuccess      time.Time
	LastErrorAt      time.Time
	LastError        string
	Delivered        uint64
	Dropped, Retries uint64
}

// status is a worker's Status, written by its goroutine and read by
// Dispatcher.Status.
type status struct {
	mu sync.Mutex
	s  Status
}

func (st *status) update(fn func(*Status)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	fn(&st.s)
}

func (st *status) get() Status {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.s
}

// errorText is err without the receiver's URL, which may hold a secret (a
// Slack webhook's path, a token in the query).
func errorText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " " + redactedURL + ": " + ue.Err.Error()
	}
	return err.Error()
}

const redactedURL = "(receiver)"

// Status reports every notifier's deliveries, in configuration order.
func (d *Dispatcher) Status() []Status {
	out := make([]Status, 0, len(d.workers))
	for _, w := range d.workers {
		out = append(out, w.status.get())
	}
	return out
}
