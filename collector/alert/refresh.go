package alert

import (
	"context"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// Refresher is a Notifier whose receiver forgets an alert that is not
// restated (Alertmanager resolves one after its resolve_timeout). The
// Dispatcher hands it every open drift item the store holds, at its
// RefreshInterval and once at start, so that alerts stay firing as long as
// their drift is open, across collector restarts.
type Refresher interface {
	Notifier
	// RefreshInterval is how often Refresh wants calling.
	RefreshInterval() time.Duration
	// Refresh restates the open items. An error is logged; the next
	// interval tries again.
	Refresh(ctx context.Context, open []*plumbv1.DriftItem) error
}

// refresh runs r's refresh loop until ctx ends.
func (d *Dispatcher) refresh(ctx context.Context, name string, r Refresher) {
	every := r.RefreshInterval()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var open []*plumbv1.DriftItem
		err := d.store.View(ctx, func(tx store.ReadTx) error {
			return tx.DriftItems("", false, func(it *plumbv1.DriftItem) error {
				open = append(open, it)
				return nil
			})
		})
		if err == nil {
			err = r.Refresh(ctx, open)
		}
		if err != nil && ctx.Err() == nil {
			d.opts.Logger.Warn("alert refresh failed", "notifier", name, "open", len(open), "err", errorText(err))
		}
		t.Reset(every)
	}
}

// refresher returns n's Refresher, looking through a filter.
func refresher(n Notifier) (Refresher, bool) {
	if f, ok := n.(*filtered); ok {
		if r, ok := f.Notifier.(Refresher); ok {
			return &filteredRefresher{Refresher: r, f: f.f}, true
		}
		return nil, false
	}
	r, ok := n.(Refresher)
	return r, ok
}

// filteredRefresher restates only the items its filter passes.
type filteredRefresher struct {
	Refresher
	f *filter
}

func (r *filteredRefresher) Refresh(ctx context.Context, open []*plumbv1.DriftItem) error {
	var pass []*plumbv1.DriftItem
	for _, it := range open {
		if r.f.passes(&plumbv1.DriftEvent{Item: it}) {
			pass = append(pass, it)
		}
	}
	return r.Refresher.Refresh(ctx, pass)
}
