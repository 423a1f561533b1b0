package alert

import (
	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// Silencer says whether an event is held back from notifiers (a silence
// or maintenance window matched it), and by which silence. It must judge
// on the event's own time (at_unix_nano) and host, never on the clock, so
// that a restart that re-reads the log decides the same. Held-back drift
// is still recorded and listed; the Silencer's owner sends one summary of
// what was held back when the silence ends.
type Silencer interface {
	Silenced(ev *plumbv1.DriftEvent) (silenceID string, ok bool)
}

// unsilenced returns events without those the Silencer holds back, which
// count as finished: when every event of the batch is held back, the
// cursor moves past them here; otherwise it moves with the delivery of
// the rest (held-back events after the last delivered one are read, and
// dropped, again next round: silencedThrough keeps them from being
// counted twice).
func (w *worker) unsilenced(events []*plumbv1.DriftEvent) []*plumbv1.DriftEvent {
	s := w.d.opts.Silencer
	if s == nil || len(events) == 0 {
		return events
	}
	kept := events[:0:0]
	for _, ev := range events {
		if !w.held(ev) {
			kept = append(kept, ev)
		}
	}
	if len(kept) == 0 {
		w.advance(events[len(events)-1].GetSeq())
	}
	return kept
}

// held reports whether the Silencer holds ev back, counting it the first
// time it is judged so.
func (w *worker) held(ev *plumbv1.DriftEvent) bool {
	s := w.d.opts.Silencer
	if s == nil || ev.GetType() == plumbv1.DriftEventType_DRIFT_EVENT_TYPE_SILENCE_ENDED {
		return false
	}
	id, held := s.Silenced(ev)
	if !held {
		return false
	}
	if ev.GetSeq() > w.silencedThrough {
		w.silencedThrough = ev.GetSeq()
		w.d.metrics.silenced.WithLabelValues(w.name).Inc()
		w.log.Debug("alert event held back by a silence", "event_id", ev.GetId(), "seq", ev.GetSeq(), "silence", id)
	}
	return true
}
