package alert

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// shutdownSave bounds the final cursor commit after ctx has ended.
const shutdownSave = 5 * time.Second

// worker delivers the log to one notifier. All its fields after
// construction are owned by its run goroutine.
type worker struct {
	d    *Dispatcher
	n    Notifier
	name string
	log  *slog.Logger
	kick chan struct{}
	bo   *backoff.ExponentialBackOff
	term *term // the current lease term

	cursor  uint64    // every event <= cursor is finished (in memory)
	saved   uint64    // the cursor as last committed to the store
	savedAt time.Time // when the cursor was last committed (or loaded)
	last    uint64    // newest event seq, as last read

	// Grouping notifiers only (runGrouped).
	win             *window
	readPos         uint64 // the last event read into the window or skipped
	savedEnd        int64  // the close time of the last window delivered, as committed
	savedEndPending int64  // the same, in memory

	status status // for Dispatcher.Status

	silencedThrough uint64 // newest event counted as held back by a silence
}

func newWorker(d *Dispatcher, n Notifier) *worker {
	return &worker{
		d:      d,
		n:      n,
		name:   n.Name(),
		log:    d.opts.Logger.With("notifier", n.Name()),
		kick:   make(chan struct{}, 1),
		bo:     newBackoff(d.opts.InitialBackoff, d.opts.MaxBackoff),
		status: status{s: Status{Name: n.Name()}},
	}
}

// run delivers in terms: each time the worker holds its notifier's lease
// it resumes from the committed cursor, until the lease is lost or ctx
// ends.
func (w *worker) run(ctx context.Context) {
	for ctx.Err() == nil {
		t, ok := w.acquire(ctx)
		if !ok {
			return
		}
		w.term = t
		w.serve(context.WithValue(t.ctx, instanceKey{}, w.d.opts.Instance))
		w.end(t)
	}
}

// serve delivers while ctx (one lease term) lasts.
func (w *worker) serve(ctx context.Context) {
	if !w.start(ctx) {
		return
	}
	defer w.saveOnExit(ctx)
	if r, ok := refresher(w.n); ok {
		// The refresh restates alerts to the notifier's receiver: only the
		// lease's holder does it.
		var wg sync.WaitGroup
		wg.Go(func() { w.d.refresh(ctx, w.name, r) })
		defer wg.Wait()
	}
	if g, ok := w.n.(*grouped); ok {
		w.runGrouped(ctx, g)
		return
	}
	idle := time.NewTimer(w.d.opts.PollInterval)
	defer idle.Stop()
	for ctx.Err() == nil {
		w.saveIfOld(ctx)
		events, last, err := readEvents(ctx, w.d.store, w.cursor, w.d.opts.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("alert read events failed", "cursor", w.cursor, "err", err)
			if !sleep(ctx, w.bo.NextBackOff()) {
				return
			}
			continue
		}
		w.last = last
		w.setPending()
		if len(events) == 0 {
			if !w.idle(ctx, idle, w.d.opts.PollInterval) {
				return
			}
			continue
		}
		if events = w.unsilenced(events); len(events) == 0 {
			continue
		}
		w.deliver(ctx, events)
	}
}

// start loads the cursor, retrying store errors until ctx ends.
func (w *worker) start(ctx context.Context) bool {
	for {
		cursor, end, added, err := startCursor(ctx, w.d.store, w.name, w.holds)
		if err == nil {
			w.cursor, w.saved, w.savedAt = cursor, cursor, time.Now()
			w.savedEnd, w.savedEndPending = end, end
			w.setPending()
			w.bo.Reset()
			if added {
				w.log.Info("alert notifier added, starting at newest event", "cursor", cursor)
			} else {
				w.log.Info("alert notifier resuming", "cursor", cursor)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if errors.Is(err, errLeaseLost) {
			w.term.lost()
			return false
		}
		w.log.Warn("alert cursor load failed", "err", err)
		if !sleep(ctx, w.bo.NextBackOff()) {
			return false
		}
	}
}

// deliver makes one Notify call for events and moves the cursor past what
// is finished: delivered, or dropped because it can never succeed.
func (w *worker) deliver(ctx context.Context, events []*plumbv1.DriftEvent) {
	start := time.Now()
	retryable, err := w.n.Notify(ctx, events)
	w.d.metrics.seconds.WithLabelValues(w.name).Observe(time.Since(start).Seconds())
	if err == nil {
		w.count(resultOK, len(events))
		w.advance(events[len(events)-1].GetSeq())
		w.bo.Reset()
		return
	}

	delivered := 0
	failed := events
	var pe *PartialError
	if errors.As(err, &pe) {
		delivered = min(max(pe.Delivered, 0), len(events))
		failed = events[delivered:min(delivered+1, len(events))]
	}
	if delivered > 0 {
		w.count(resultOK, delivered)
		w.advance(events[delivered-1].GetSeq())
		w.bo.Reset()
	}
	if ctx.Err() != nil || len(failed) == 0 {
		// Shutting down (the failure is ours, not the receiver's), or a
		// notifier that reported every event delivered: nothing to judge.
		return
	}
	ids, seqs := eventIDs(failed)
	w.failed(err)
	if !retryable {
		w.count(resultDropped, len(failed))
		w.log.Error("alert events dropped, receiver rejected them for good",
			"event_ids", ids, "seqs", seqs, "err", err)
		w.advance(failed[len(failed)-1].GetSeq())
		return
	}
	w.count(resultRetry, len(failed))
	delay := w.bo.NextBackOff()
	w.log.Warn("alert delivery failed, will retry",
		"event_ids", ids, "seqs", seqs, "retry_in", delay, "err", err)
	w.save(ctx) // keep what was delivered even if we are stopped while waiting
	sleep(ctx, delay)
}

func (w *worker) count(result string, n int) {
	w.d.metrics.deliveries.WithLabelValues(w.name, result).Add(float64(n))
	w.status.update(func(s *Status) {
		switch result {
		case resultOK:
			s.Delivered += uint64(n)
			s.LastSuccess = time.Now()
		case resultDropped:
			s.Dropped += uint64(n)
		case resultRetry:
			s.Retries += uint64(n)
		}
	})
}

// failed records a delivery's error.
func (w *worker) failed(err error) {
	w.status.update(func(s *Status) {
		s.LastError, s.LastErrorAt = errorText(err), time.Now()
	})
}

func (w *worker) advance(seq uint64) {
	w.cursor = max(w.cursor, seq)
	w.setPending()
}

func (w *worker) setPending() {
	var p uint64
	if w.last > w.cursor {
		p = w.last - w.cursor
	}
	w.d.metrics.pending.WithLabelValues(w.name).Set(float64(p))
	w.status.update(func(s *Status) { s.Cursor, s.Backlog = w.cursor, p })
}

// Cursor commits are lazy: a delivery does not wait for one (an fsync
// that held up the next change's notification, and took the store's
// single writer from ingest), the cursor is committed once the notifier
// has been idle for saveDelay, and at least every saveEvery while it is
// busy. A collector that crashes re-delivers what was delivered since
// (at least once, with the same idempotency keys); one stopped cleanly
// commits it on its way out (saveOnExit).
const (
	saveDelay = 50 * time.Millisecond
	saveEvery = time.Second
)

// unsaved reports whether the cursor moved since it was committed.
func (w *worker) unsaved() bool {
	return w.cursor != w.saved || w.savedEndPending != w.savedEnd
}

// saveIfOld commits the cursor if it moved and its last commit is
// saveEvery old.
func (w *worker) saveIfOld(ctx context.Context) {
	if w.unsaved() && time.Since(w.savedAt) >= saveEvery {
		w.save(ctx)
	}
}

// idle waits for a kick, at most wait, and commits a moved cursor if
// none comes within saveDelay. It reports false if ctx ended.
func (w *worker) idle(ctx context.Context, t *time.Timer, wait time.Duration) bool {
	for {
		saving := w.unsaved() && wait > saveDelay
		if saving {
			t.Reset(saveDelay)
		} else {
			t.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return false
		case <-w.kick:
			return true
		case <-t.C:
			if !saving {
				return true
			}
			w.save(ctx)
			wait -= saveDelay
		}
	}
}

// save commits the cursor if it moved. A failed commit is only logged: the
// in-memory cursor keeps delivery going, the commit is retried on the next
// round, and a restart in between re-delivers (at least once).
func (w *worker) save(ctx context.Context) {
	if !w.unsaved() {
		return
	}
	if err := saveCursor(ctx, w.d.store, w.name, w.cursor, w.savedEndPending, w.holds); err != nil {
		if errors.Is(err, errLeaseLost) {
			// Another collector holds the notifier now: what we delivered
			// since the last commit it delivers again (at least once).
			if w.term.ctx.Err() == nil {
				w.log.Warn("alert notifier lease lost, cursor not committed; stopping delivery", "cursor", w.cursor, "committed", w.saved)
			}
			w.term.lost()
			return
		}
		if ctx.Err() == nil {
			w.log.Warn("alert cursor commit failed", "cursor", w.cursor, "err", err)
		}
		return
	}
	w.saved, w.savedEnd, w.savedAt = w.cursor, w.savedEndPending, time.Now()
}

// saveOnExit commits the final cursor after ctx ended, with a context of
// its own so that a clean stop re-delivers nothing.
func (w *worker) saveOnExit(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownSave)
	defer cancel()
	w.save(ctx)
}

func eventIDs(events []*plumbv1.DriftEvent) (ids []string, seqs []uint64) {
	for _, ev := range events {
		ids = append(ids, ev.GetId())
		seqs = append(seqs, ev.GetSeq())
	}
	return ids, seqs
}

// sleep waits for d or until ctx ends, reporting whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
