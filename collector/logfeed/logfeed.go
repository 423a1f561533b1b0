// Package logfeed owns the signal that the store's event log has grown,
// whichever collector appended to it. In one collector the commit paths
// signal their own appends (ingest's OnCommit, the silence book, policy);
// when several collectors share the database, an event another collector
// commits would reach this one's watch streams (plumbctl drift --watch,
// SSE, the dashboard) and notifier leases only at their next poll. A Feed
// watches the log's newest seq and signals when it moves: the readers
// already tail the log from their own cursors, so a signal is all they
// need.
package logfeed

import (
	"context"
	"log/slog"
	"time"

	"github.com/plumb-dev/plumb/collector/store"
)

// DefaultEvery is how often a Feed looks at the log by default.
const DefaultEvery = 200 * time.Millisecond

// Announcer is a store that can tell, sooner than a poll, that the log
// may have grown (PostgreSQL's LISTEN/NOTIFY). A Feed whose store is one
// also waits on it; polling stays, as the fallback for a lost
// notification or connection.
type Announcer interface {
	// LogAppended receives after a commit that appended events, on any
	// collector; it may coalesce and may receive spuriously.
	LogAppended() <-chan struct{}
}

// Feed calls Notify when the log's newest seq moves.
type Feed struct {
	Store  store.Store
	Notify func()
	// Every is how often the log is looked at (default DefaultEvery).
	Every  time.Duration
	Logger *slog.Logger
}

// Run watches the log until ctx ends. Store errors are logged (once per
// run of failures) and retried at the next look.
func (f *Feed) Run(ctx context.Context) error {
	every := f.Every
	if every <= 0 {
		every = DefaultEvery
	}
	logger := f.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var announced <-chan struct{}
	if a, ok := f.Store.(Announcer); ok {
		announced = a.LogAppended()
	}
	var last uint64
	known, failing := false, false
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		seq, err := lastSeq(ctx, f.Store)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				logger.Warn("watching the event log failed; retrying", "err", err)
				failing = true
			}
		case err == nil:
			if failing {
				logger.Info("watching the event log again")
				failing = false
			}
			// The first look only learns where the log stands; a seq
			// that moves either way (a restored database) is news.
			if known && seq != last {
				f.Notify()
			}
			last, known = seq, true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-announced:
		}
	}
}

func lastSeq(ctx context.Context, st store.Store) (uint64, error) {
	var seq uint64
	err := st.View(ctx, func(tx store.ReadTx) error {
		var err error
		seq, err = tx.LastEventSeq()
		return err
	})
	return seq, err
}
