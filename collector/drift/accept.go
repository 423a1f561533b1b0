package drift

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// Expected is a fact's current value as a caller saw it before accepting.
type Expected struct {
	// Digest of the value; nil (or empty) for a fact that did not exist.
	Digest []byte
}

// Accept makes the current value of the host's open drift the baseline
// (for an item held to its group's baseline, the host's own baseline, and
// an exception to the group's that holds the host to it from then on):
// one item when k != nil, else all of the host's open items. Each gets
// status ACCEPTED with by and reason, and an ACCEPTED event appended to
// the event log. It stores the host's new OpenDrift count itself. An
// unknown host is store.ErrNotFound; a k without open drift is
// ErrNoOpenDrift (also store.ErrNotFound).
//
// want, if not nil, is the value of k the caller saw: when the fact's
// current value differs, Accept fails with ErrChanged before writing
// anything, so that a change made after the caller looked is not accepted
// unseen. It needs k: all of a host's drift has no one value to expect.
//
// Health items are not accepted: a k of FACT_KIND_HEALTH is ErrHealthItem,
// one of FACT_KIND_EXPECTATION ErrExpectationItem, and accepting all of a
// host's drift leaves them open.
func (e *Engine) Accept(tx store.Tx, hostID string, k *fact.Key, want *Expected, by, reason string) ([]*plumbv1.DriftItem, []*plumbv1.DriftEvent, error) {
	if want != nil && k == nil {
		return nil, nil, errors.New("accept: an expected value needs a fact key")
	}
	h, err := tx.Host(hostID)
	if err != nil {
		return nil, nil, err
	}
	var items []*plumbv1.DriftItem
	if k != nil {
		if IsHealth(k.Kind) {
			return nil, nil, fmt.Errorf("%s on host %q: %w", k, hostID, ErrHealthItem)
		}
		if IsExpectation(k.Kind) {
			return nil, nil, fmt.Errorf("%s on host %q: %w", k, hostID, ErrExpectationItem)
		}
		item, err := lookup(tx.Drift(hostID, *k))
		if err != nil {
			return nil, nil, err
		}
		if item == nil || item.GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_OPEN {
			return nil, nil, fmt.Errorf("%w for %s on host %q: %w", ErrNoOpenDrift, k, hostID, store.ErrNotFound)
		}
		if want != nil {
			cur, err := lookup(tx.Fact(hostID, *k))
			if err != nil {
				return nil, nil, err
			}
			if !bytes.Equal(digestOrNil(cur), want.Digest) {
				return nil, nil, fmt.Errorf("%s on host %q %w: its value is now %s, not %s",
					k, hostID, ErrChanged, digestText(digestOrNil(cur)), digestText(want.Digest))
			}
		}
		items = append(items, item)
	} else {
		// Collected first: the store's callbacks must not write.
		err := tx.DriftItems(hostID, false, func(item *plumbv1.DriftItem) error {
			if !IsRaised(item.GetKind()) { // they resolve themselves
				items = append(items, item)
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}

	// Accepting is not caused by a delta; an item is accepted at most
	// once, so delta 0 keeps the event id unique and stable.
	a := e.applier(tx, h, cause{}, 0)
	now := e.now().UnixNano()
	for _, item := range items {
		ik := fact.Key{Kind: item.GetKind(), ID: string(item.GetKey())}
		// The stored fact may carry fresher volatile attributes than the
		// item's copy; its digest is the same.
		cur, err := lookup(tx.Fact(hostID, ik))
		if err != nil {
			return nil, nil, err
		}
		if cur != nil {
			err = tx.PutBaseline(hostID, cur)
		} else {
			err = tx.DeleteBaseline(hostID, ik)
		}
		if err != nil {
			return nil, nil, err
		}
		if g := item.GetBaselineGroup(); g != "" {
			// Held to the group's baseline: the accepted value becomes
			// this host's own expectation, an exception to the group's.
			err := tx.PutGroupException(&store.GroupException{Group: g, Host: hostID, Key: ik, By: by, Reason: reason, At: now})
			if err != nil {
				return nil, nil, err
			}
		}
		item.Current = cur
		item.Status = plumbv1.DriftStatus_DRIFT_STATUS_ACCEPTED
		item.AcceptedBy = by
		item.Reason = reason
		item.UpdatedUnixNano = now
		if h.OpenDrift > 0 {
			h.OpenDrift--
		}
		if err := a.record(item, plumbv1.DriftEventType_DRIFT_EVENT_TYPE_ACCEPTED, now); err != nil {
			return nil, nil, err
		}
	}
	if len(items) > 0 {
		if err := tx.PutHost(h); err != nil {
			return nil, nil, err
		}
	}
	e.logger().Info("drift accepted", "host", hostID, "items", len(items), "by", by, "reason", reason)
	return items, a.events, nil
}

// digestText shortens a digest for messages; "absent" for no value.
func digestText(d []byte) string {
	if len(d) == 0 {
		return "absent"
	}
	return hex.EncodeToString(d[:min(len(d), 6)])
}
