package alert

import (
	"context"
	"fmt"
	"slices"
	"strings"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// GroupNotifier is a Notifier that can take a whole window of events as
// one notification. A notifier built by Build that implements it is handed
// groups (see Grouping); called directly, it still takes events one Notify
// at a time.
type GroupNotifier interface {
	Notifier
	// NotifyGroup delivers g as one notification, whose idempotency key
	// is g.Key. A nil error means it was delivered; otherwise retryable
	// says whether the same group may succeed later.
	NotifyGroup(ctx context.Context, g *Group) (retryable bool, err error)
}

// Group is one notification: the events of one window, in log order,
// that passed the notifier's filter. Everything else about it derives from
// the events, so a collector that restarts and reads the log again builds
// the same group with the same Key.
type Group struct {
	// Key is the notification's idempotency key: stable for the same
	// events, unique per notifier.
	Key    string
	Events []*plumbv1.DriftEvent
}

// newGroup returns the group of events, which must not be empty.
func newGroup(events []*plumbv1.DriftEvent) *Group {
	return &Group{
		Key:    fmt.Sprintf("g%d-%d", events[0].GetSeq(), events[len(events)-1].GetSeq()),
		Events: events,
	}
}

// GroupItem is one drift item's part in a group: what happened to it in
// the window, told once however many transitions it went through.
type GroupItem struct {
	// Last is the item's last event in the window: its state now.
	Last *plumbv1.DriftEvent
	// Opened: the item opened inside the window. Flapped: it opened and
	// closed again (resolved or accepted) inside the window.
	Opened, Flapped bool
	// Transitions is how many of the group's events are the item's.
	Transitions int
}

// Item is the item's state at the end of the window.
func (gi *GroupItem) Item() *plumbv1.DriftItem { return gi.Last.GetItem() }

// Closed reports whether the item was resolved or accepted by the end of
// the window.
func (gi *GroupItem) Closed() bool { return closing(gi.Last.GetType()) }

func closing(t plumbv1.DriftEventType) bool {
	return t == plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED || t == plumbv1.DriftEventType_DRIFT_EVENT_TYPE_ACCEPTED
}

// Items returns each item of the group once, in the order of its first
// event. Health items and package items come out like any other.
func (g *Group) Items() []*GroupItem {
	var out []*GroupItem
	at := map[string]*GroupItem{}
	for _, ev := range g.Events {
		if ev.GetItem() == nil {
			continue // a silence's summary: see Silences
		}
		id := ev.GetItem().GetId()
		gi, ok := at[id]
		if !ok {
			gi = &GroupItem{Opened: ev.GetType() == plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED}
			at[id] = gi
			out = append(out, gi)
		}
		gi.Last = ev
		gi.Transitions++
		if gi.Opened && closing(ev.GetType()) {
			gi.Flapped = true
		}
	}
	return out
}

// Severity is the highest severity among the group's items that on-call
// must look at: items explained by a package change count at the
// package's severity (see Explain).
func (g *Group) Severity() plumbv1.Severity {
	var s plumbv1.Severity
	for _, h := range g.Explain() {
		for _, pc := range h.Packages {
			s = max(s, pc.Item.Item().GetSeverity())
		}
		for _, gi := range h.Unexplained {
			s = max(s, gi.Item().GetSeverity())
		}
	}
	return s
}

// Hosts returns the group's hosts, sorted, each with its item count.
func (g *Group) Hosts() []HostCount {
	n := map[string]int{}
	for _, gi := range g.Items() {
		n[gi.Item().GetHostId()]++
	}
	out := make([]HostCount, 0, len(n))
	for h, c := range n {
		out = append(out, HostCount{Host: h, Items: c})
	}
	slices.SortFunc(out, func(a, b HostCount) int { return strings.Compare(a.Host, b.Host) })
	return out
}

// HostCount is a host and how many of a group's items are its.
type HostCount struct {
	Host  string
	Items int
}

// Counts tallies the group's items by what happened to them in the window.
type Counts struct {
	Items, Opened, Updated, Resolved, Accepted, Flapped int
}

// Counts returns the group's tallies. An item that flapped counts only as
// flapped.
func (g *Group) Counts() Counts {
	var c Counts
	for _, gi := range g.Items() {
		c.Items++
		switch {
		case gi.Flapped:
			c.Flapped++
		case gi.Last.GetType() == plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED:
			c.Resolved++
		case gi.Last.GetType() == plumbv1.DriftEventType_DRIFT_EVENT_TYPE_ACCEPTED:
			c.Accepted++
		case gi.Opened:
			c.Opened++
		default:
			c.Updated++
		}
	}
	return c
}

// Silences returns the summaries of the silences that ended in the
// window: what each held back from notifiers.
func (g *Group) Silences() []*plumbv1.SilenceSummary {
	var out []*plumbv1.SilenceSummary
	for _, ev := range g.Events {
		if ev.GetType() == plumbv1.DriftEventType_DRIFT_EVENT_TYPE_SILENCE_ENDED && ev.GetSilenceSummary() != nil {
			out = append(out, ev.GetSilenceSummary())
		}
	}
	return out
}
