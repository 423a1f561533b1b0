package alert

import (
	"errors"
	"fmt"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// Grouping is how a notifier gathers events into notifications: the
// `group_wait`, `group_interval`, `critical_wait` and `max_events` keys of
// its configuration entry.
//
// A window opens with the first event after the last notification and
// takes every event committed before it closes, from any host. It closes
// group_wait after its first event, but never sooner than group_interval
// after the previous window closed, so follow-ups come at most once per
// group_interval. A critical event closes it no later than critical_wait
// after that event, whatever the other settings say. A window that reaches
// max_events closes at once. The times are the collector's commit times
// recorded in the log, so the same log always makes the same windows: a
// collector that restarts in the middle of one rebuilds it, under the same
// idempotency key.
type Grouping struct {
	Wait         time.Duration `koanf:"group_wait"`
	Interval     time.Duration `koanf:"group_interval"`
	CriticalWait time.Duration `koanf:"critical_wait"`
	MaxEvents    int           `koanf:"max_events"`
}

// Defaults of a notifier's Grouping.
const (
	DefaultGroupWait     = 5 * time.Second
	DefaultGroupInterval = 30 * time.Second
	DefaultCriticalWait  = time.Second
	DefaultMaxEvents     = 5000
	// maxMaxEvents bounds what one window holds in memory.
	maxMaxEvents = 20000
	maxWait      = 24 * time.Hour
)

// defaultGrouping is the Grouping of a notifier whose entry sets none of
// its keys.
func defaultGrouping() Grouping {
	return Grouping{Wait: DefaultGroupWait, Interval: DefaultGroupInterval, CriticalWait: DefaultCriticalWait, MaxEvents: DefaultMaxEvents}
}

// popGrouping removes the grouping keys from raw and returns the
// notifier's Grouping (defaults for keys not given) and whether any key
// was given.
func popGrouping(raw map[string]any) (Grouping, bool, error) {
	sub := map[string]any{}
	for _, k := range []string{"group_wait", "group_interval", "critical_wait", "max_events"} {
		if v, ok := raw[k]; ok {
			sub[k] = v
			delete(raw, k)
		}
	}
	g := defaultGrouping()
	if err := (Params{Raw: sub}).Decode(&g); err != nil {
		return Grouping{}, false, err
	}
	return g, len(sub) > 0, g.validate()
}

func (g Grouping) validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"group_wait", g.Wait}, {"group_interval", g.Interval}, {"critical_wait", g.CriticalWait}} {
		if d.v < 0 || d.v > maxWait {
			errs = append(errs, fmt.Errorf("%s: %v is outside 0s..%v", d.name, d.v, maxWait))
		}
	}
	if g.MaxEvents < 1 || g.MaxEvents > maxMaxEvents {
		errs = append(errs, fmt.Errorf("max_events: %d is outside 1..%d", g.MaxEvents, maxMaxEvents))
	}
	return errors.Join(errs...)
}

// window is the open window of a grouping notifier: a pure function of
// the events added and of the close time of the window before it.
type window struct {
	g        Grouping
	prevEnd  int64 // close time of the previous window, unix ns; 0: none
	events   []*plumbv1.DriftEvent
	end      int64 // close time of this window, unix ns, once it has events
	lastTime int64 // the latest event time seen, for a clock that stepped back
}

// fits reports whether ev belongs to the open window (or opens one).
func (w *window) fits(ev *plumbv1.DriftEvent) bool {
	return len(w.events) == 0 || (w.at(ev) < w.end && len(w.events) < w.g.MaxEvents)
}

// at is ev's time, never before an earlier event's: a collector clock
// stepped back must not reorder windows.
func (w *window) at(ev *plumbv1.DriftEvent) int64 {
	return max(ev.GetAtUnixNano(), w.lastTime)
}

// add puts ev, which fits, into the window.
func (w *window) add(ev *plumbv1.DriftEvent) {
	t := w.at(ev)
	w.lastTime = t
	if len(w.events) == 0 {
		w.end = t + int64(w.g.Wait)
		if w.prevEnd != 0 {
			w.end = max(w.end, w.prevEnd+int64(w.g.Interval))
		}
	}
	if ev.GetItem().GetSeverity() >= plumbv1.Severity_SEVERITY_CRITICAL {
		w.end = min(w.end, t+int64(w.g.CriticalWait))
	}
	w.events = append(w.events, ev)
}

// full reports whether the window can take no more events.
func (w *window) full() bool { return len(w.events) >= w.g.MaxEvents }

// commitGrace is how long after a window's close time it is sent: an
// event stamped just before the close may still be committing. A window
// of group_wait 0 waits for nothing: it holds only events of its first
// event's instant, and each change goes out as soon as it is read.
const commitGrace = 200 * time.Millisecond

func (w *window) grace() int64 { return int64(min(commitGrace, w.g.Wait)) }

// due reports whether the window is ready to send at now (unix ns).
func (w *window) due(now int64) bool {
	return len(w.events) > 0 && (now >= w.end+w.grace() || w.full())
}

// wait is how long from now (unix ns) until the window is due.
func (w *window) wait(now int64) time.Duration {
	return time.Duration(max(w.end+w.grace()-now, 0))
}

// take returns the window's group and starts the next window.
func (w *window) take() *Group {
	g := newGroup(w.events)
	w.prevEnd = w.end
	w.events = nil
	return g
}
