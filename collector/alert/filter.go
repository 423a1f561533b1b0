package alert

import (
	"context"
	"errors"
	"fmt"

	"github.com/bmatcuk/doublestar/v4"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/severity"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// FilterConfig is a notifier's `filter:` section: which events it gets.
// Every condition given must hold; an event it filters out counts as
// delivered to that notifier, so its cursor moves past it.
type FilterConfig struct {
	// MinSeverity: info, warning or critical.
	MinSeverity string `koanf:"min_severity"`
	// Hosts, Keys: doublestar globs on the host id and the fact key.
	Hosts []string `koanf:"hosts"`
	Keys  []string `koanf:"keys"`
	// Kinds: fact kinds (file, package, ...).
	Kinds []string `koanf:"kinds"`
}

// filter is a parsed FilterConfig.
type filter struct {
	minSeverity plumbv1.Severity
	hosts, keys []string
	kinds       map[plumbv1.FactKind]bool
}

func parseFilter(c FilterConfig) (*filter, error) {
	f := &filter{hosts: c.Hosts, keys: c.Keys}
	var errs []error
	if c.MinSeverity != "" {
		s, err := severity.ParseLevel(c.MinSeverity)
		if err != nil {
			errs = append(errs, fmt.Errorf("filter.min_severity: %w", err))
		}
		f.minSeverity = s
	}
	for _, g := range append(append([]string(nil), c.Hosts...), c.Keys...) {
		if !doublestar.ValidatePattern(g) {
			errs = append(errs, fmt.Errorf("filter: %q is not a valid glob", g))
		}
	}
	for _, k := range c.Kinds {
		kind, err := fact.ParseKind(k)
		if err != nil {
			errs = append(errs, fmt.Errorf("filter.kinds: %w", err))
			continue
		}
		if f.kinds == nil {
			f.kinds = map[plumbv1.FactKind]bool{}
		}
		f.kinds[kind] = true
	}
	return f, errors.Join(errs...)
}

func matchAny(globs []string, s string) bool {
	for _, g := range globs {
		if ok, _ := doublestar.Match(g, s); ok {
			return true
		}
	}
	return false
}

// passes reports whether the notifier gets ev. A silence's summary has
// no item of its own: it passes when any item it names would, or when it
// names none.
func (f *filter) passes(ev *plumbv1.DriftEvent) bool {
	if ev.GetType() == plumbv1.DriftEventType_DRIFT_EVENT_TYPE_SILENCE_ENDED {
		held := ev.GetSilenceSummary().GetHeld()
		for _, h := range held {
			it := &plumbv1.DriftItem{HostId: h.GetHostId(), Kind: h.GetKind(), Key: h.GetKey(), Severity: h.GetSeverity()}
			if f.passes(&plumbv1.DriftEvent{Item: it}) {
				return true
			}
		}
		return len(held) == 0
	}
	it := ev.GetItem()
	switch {
	case it.GetSeverity() < f.minSeverity:
		return false
	case len(f.hosts) > 0 && !matchAny(f.hosts, it.GetHostId()):
		return false
	case len(f.keys) > 0 && !matchAny(f.keys, string(it.GetKey())):
		return false
	case f.kinds != nil && !f.kinds[it.GetKind()]:
		return false
	}
	return true
}

// filtered is a notifier that gets only the events its filter passes.
type filtered struct {
	Notifier
	f *filter
}

// Notify implements Notifier: it hands on the events that pass and maps
// a partial delivery of those back onto events.
func (n *filtered) Notify(ctx context.Context, events []*plumbv1.DriftEvent) (bool, error) {
	var pass []*plumbv1.DriftEvent
	var at []int // index in events of each event in pass
	for i, ev := range events {
		if n.f.passes(ev) {
			pass = append(pass, ev)
			at = append(at, i)
		}
	}
	if len(pass) == 0 {
		return false, nil
	}
	retryable, err := n.Notifier.Notify(ctx, pass)
	var pe *PartialError
	if errors.As(err, &pe) && pe.Delivered >= 0 && pe.Delivered < len(at) {
		// Everything before the failed event, filtered out or not, is
		// done.
		return retryable, &PartialError{Delivered: at[pe.Delivered], Err: pe.Err}
	}
	if err != nil && at[0] > 0 {
		// The first event handed on failed: those filtered out before it
		// are done.
		return retryable, &PartialError{Delivered: at[0], Err: err}
	}
	return retryable, err
}
