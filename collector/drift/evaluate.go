package drift

import (
	"bytes"
	"cmp"
	"math"
	"slices"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// evaluate compares the host's current value of k (cur, nil when absent)
// with its expected value (expected: the group's baseline or its own) and moves the fact's drift item accordingly: a
// divergence opens an item or updates the open one, a return to the
// baseline resolves it. Hosts without a baseline have no drift.
func (a *applier) evaluate(k fact.Key, cur *plumbv1.Fact) error {
	if !a.h.HasBaseline {
		return nil
	}
	base, group, err := a.expected(k)
	if err != nil {
		return err
	}
	item, err := lookup(a.tx.Drift(a.h.ID, k))
	if err != nil {
		return err
	}
	open := item != nil && item.GetStatus() == plumbv1.DriftStatus_DRIFT_STATUS_OPEN
	now := a.e.now().UnixNano()

	if sameDigest(base, cur) {
		if !open {
			return nil
		}
		item.Status = plumbv1.DriftStatus_DRIFT_STATUS_RESOLVED
		item.Current = cur
		item.UpdatedUnixNano = now
		if a.h.OpenDrift > 0 {
			a.h.OpenDrift--
		}
		return a.record(item, plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED, now)
	}

	change := changeOf(base, cur)
	observed := a.observed
	if observed == 0 {
		observed = cur.GetObservedUnixNano()
	}
	if !open {
		// Closed items stay for history until this new divergence
		// replaces them; the event log keeps every transition.
		item = &plumbv1.DriftItem{
			Id:               itemID(a.h.ID, k, a.cause),
			HostId:           a.h.ID,
			Kind:             k.Kind,
			Key:              []byte(k.ID),
			Change:           change,
			Status:           plumbv1.DriftStatus_DRIFT_STATUS_OPEN,
			Baseline:         base,
			Current:          cur,
			ObservedUnixNano: observed,
			DetectedUnixNano: now,
			UpdatedUnixNano:  now,
			BaselineGroup:    group,
		}
		a.h.OpenDrift++
		return a.record(item, plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED, now)
	}
	if sameDigest(item.GetCurrent(), cur) && item.GetChange() == change &&
		sameDigest(item.GetBaseline(), base) && item.GetBaselineGroup() == group {
		return nil
	}
	item.Change = change
	item.Baseline = base
	item.BaselineGroup = group
	item.Current = cur
	item.ObservedUnixNano = observed
	item.UpdatedUnixNano = now
	return a.record(item, plumbv1.DriftEventType_DRIFT_EVENT_TYPE_UPDATED, now)
}

// record stores item and appends its transition to the event log.
func (a *applier) record(item *plumbv1.DriftItem, typ plumbv1.DriftEventType, now int64) error {
	item.Severity = a.e.Severity.Of(item.GetKind(), item.GetKey())
	if err := a.tx.PutDrift(item); err != nil {
		return err
	}
	ev := &plumbv1.DriftEvent{
		Id:         eventID(item.GetId(), typ, a.cause, item.GetCurrent().GetDigest()),
		Type:       typ,
		Item:       item,
		AtUnixNano: now,
		// Every caller has counted the transition in h.OpenDrift.
		HostOpenDrift: uint32(min(a.h.OpenDrift, math.MaxUint32)),
	}
	if c := a.pkgChange; c != nil && item.GetKind() == plumbv1.FactKind_FACT_KIND_PACKAGE && string(item.GetKey()) == c.GetPackage() {
		ev.PackageChange = c
	}
	if err := a.tx.AppendEvent(ev); err != nil {
		return err
	}
	a.events = append(a.events, ev)
	return nil
}

func changeOf(base, cur *plumbv1.Fact) plumbv1.DriftChange {
	switch {
	case base == nil:
		return plumbv1.DriftChange_DRIFT_CHANGE_ADDED
	case cur == nil:
		return plumbv1.DriftChange_DRIFT_CHANGE_REMOVED
	default:
		return plumbv1.DriftChange_DRIFT_CHANGE_MODIFIED
	}
}

// sameDigest reports whether a and b have equal digests, treating two
// absent facts as equal and one absent fact as different.
func sameDigest(a, b *plumbv1.Fact) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return bytes.Equal(a.GetDigest(), b.GetDigest())
}

// sortedKeys returns m's keys in storage order, so a resync writes in key
// order and emits events in a stable order.
func sortedKeys[V any](m map[fact.Key]V) []fact.Key {
	keys := make([]fact.Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y fact.Key) int {
		return cmp.Or(cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.ID, y.ID))
	})
	return keys
}
