package alert

import (
	"context"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// grouped is a notifier built by Build whose type takes groups: the
// Dispatcher gathers its events into windows (Grouping) and hands each as
// one notification.
type grouped struct {
	Notifier // what Notify and Name go to (the filtered notifier, if any)
	gn       GroupNotifier
	g        Grouping
	f        *filter // nil: every event
}

func (n *grouped) passes(ev *plumbv1.DriftEvent) bool { return n.f == nil || n.f.passes(ev) }

// runGrouped is run for a grouping notifier. The window's events are read
// but not finished: the cursor stays before the window's first event until
// the window is delivered, and the close time of the last window delivered
// is committed with the cursor, so that a restart rebuilds the open window
// from the log exactly.
func (w *worker) runGrouped(ctx context.Context, n *grouped) {
	w.win = &window{g: n.g, prevEnd: w.savedEnd}
	w.readPos = w.cursor
	idle := time.NewTimer(w.d.opts.PollInterval)
	defer idle.Stop()
	for ctx.Err() == nil {
		w.saveIfOld(ctx)
		events, last, err := readEvents(ctx, w.d.store, w.readPos, w.d.opts.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("alert read events failed", "cursor", w.readPos, "err", err)
			if !sleep(ctx, w.bo.NextBackOff()) {
				return
			}
			continue
		}
		w.last = last
		for _, ev := range events {
			if ctx.Err() != nil {
				return
			}
			if n.passes(ev) && !w.held(ev) {
				if !w.win.fits(ev) {
					if !w.deliverGroup(ctx, n) {
						return
					}
				}
				w.win.add(ev)
			}
			w.readPos = ev.GetSeq()
			w.advance(w.finished())
			if w.win.full() && !w.deliverGroup(ctx, n) {
				return
			}
		}
		w.setPending()
		if len(events) > 0 {
			continue
		}
		// Caught up with the log: a window past its close time has every
		// event it will ever have.
		if w.win.due(time.Now().UnixNano()) {
			if !w.deliverGroup(ctx, n) {
				return
			}
			continue
		}
		wait := w.d.opts.PollInterval
		if len(w.win.events) > 0 {
			wait = min(wait, w.win.wait(time.Now().UnixNano()))
		}
		if !w.idle(ctx, idle, wait) {
			return
		}
	}
}

// finished is the seq up to which every event is finished: the events
// before the open window's first, or all read when no window is open.
func (w *worker) finished() uint64 {
	if len(w.win.events) > 0 {
		return w.win.events[0].GetSeq() - 1
	}
	return w.readPos
}

// deliverGroup sends the open window as one notification, retrying a
// retryable failure until it is delivered or ctx ends; a failure that is
// not retryable drops the window. It reports whether the window is done
// with (false: ctx ended first).
func (w *worker) deliverGroup(ctx context.Context, n *grouped) bool {
	g := newGroup(w.win.events)
	for {
		start := time.Now()
		retryable, err := n.gn.NotifyGroup(ctx, g)
		w.d.metrics.seconds.WithLabelValues(w.name).Observe(time.Since(start).Seconds())
		if err == nil {
			w.count(resultOK, len(g.Events))
			w.bo.Reset()
			break
		}
		if ctx.Err() != nil {
			return false
		}
		ids, seqs := eventIDs(g.Events[:min(len(g.Events), 20)])
		w.failed(err)
		if !retryable {
			w.count(resultDropped, len(g.Events))
			w.log.Error("alert notification dropped, receiver rejected it for good",
				"key", g.Key, "events", len(g.Events), "first_event_ids", ids, "first_seqs", seqs, "err", err)
			break
		}
		w.count(resultRetry, len(g.Events))
		delay := w.bo.NextBackOff()
		w.log.Warn("alert notification failed, will retry",
			"key", g.Key, "events", len(g.Events), "retry_in", delay, "err", err)
		if !sleep(ctx, delay) {
			return false
		}
	}
	w.win.take()
	w.savedEndPending = w.win.prevEnd
	w.advance(w.finished())
	return true
}

// Grouped returns n set to take its events in windows per g, as Build does
// for a configured notifier whose type groups.
func Grouped(n GroupNotifier, g Grouping) (Notifier, error) {
	if err := g.validate(); err != nil {
		return nil, err
	}
	return &grouped{Notifier: n, gn: n, g: g}, nil
}
