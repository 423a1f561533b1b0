package auth

import (
	"errors"
	"fmt"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/store"
)

// HealthRecorder raises and clears a host's health items inside a
// transaction (drift.Engine.Health).
type HealthRecorder interface {
	Health(tx store.Tx, h *store.Host, condition string, open bool, detail string) ([]*plumbv1.DriftEvent, error)
}

// SetHealth tells the authority where to report a host's quarantined
// identity, and whom to wake after a commit that appended events.
func (a *Authority) SetHealth(h HealthRecorder, notify func()) {
	a.health = h
	a.notify = notify
}

// clashDetail describes a quarantine for the host's "identity" health
// item. It names the clashing key, not a count: a clone that retries does
// not update the item, another key does.
func clashDetail(keyPin string) string {
	return fmt.Sprintf("a key other than the enrolled one (%s) tried to be this host; the host id is quarantined until an admin revokes it (plumbctl hosts revoke)", keyPin)
}

// identityHealth opens or clears host's "identity" health item inside tx
// and returns how many events it appended. An enrolled host that never
// streamed has no host record yet: a quarantine gives it one.
func (a *Authority) identityHealth(tx store.Tx, host string, open bool, detail string) (int, error) {
	if a.health == nil {
		return 0, nil
	}
	h, err := tx.Host(host)
	if errors.Is(err, store.ErrNotFound) {
		if !open {
			return 0, nil
		}
		h, err = &store.Host{ID: host}, nil
	}
	if err != nil {
		return 0, err
	}
	evs, err := a.health.Health(tx, h, drift.HealthIdentity, open, detail)
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	return len(evs), tx.PutHost(h)
}

// notified wakes the notifiers after a commit that appended n events.
func (a *Authority) notified(n int) {
	if n > 0 && a.notify != nil {
		a.notify()
	}
}
