package drift

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// Health conditions: the keys of the FACT_KIND_HEALTH items the collector
// raises about a host, each a gap in what it knows of the host.
const (
	// HealthReporting: the host has not reported for longer than the
	// collector allows.
	HealthReporting = "reporting"
	// HealthCoverage: the agent reports that it cannot see part of the
	// host (unreadable or missing paths, watch limit, queue overflow).
	HealthCoverage = "coverage"
	// HealthDigest: a checkpoint's set digest disagreed with the
	// collector's; the host resyncs.
	HealthDigest = "digest"
	// HealthIdentity: another key tried to be this host; its id is
	// quarantined.
	HealthIdentity = "identity"
)

var healthConditions = map[string]bool{
	HealthReporting: true, HealthCoverage: true, HealthDigest: true, HealthIdentity: true,
}

// ErrHealthItem is returned, wrapped, by Accept for a health item: it is
// not a value that could become the baseline, and it resolves itself.
var ErrHealthItem = errors.New("a health item cannot be accepted: it resolves itself when the condition clears")

// MaxHealthDetail bounds a health item's detail, in bytes: it travels in
// every event of the item.
const MaxHealthDetail = 1024

// Health opens, updates or resolves the host's health item for condition
// (one of the Health* keys) inside tx, and returns the events, already
// appended to the event log. It is the one seam through which ingest,
// auth and the staleness checker report gaps.
//
// With open, a host without an open item for condition gets one (OPENED),
// and an open item whose detail differs is UPDATED; without open, an open
// item is RESOLVED, its detail saying what cleared. Anything else is a
// no-op. The detail is a human-readable line, carried as the item's
// current fact (ValueAttrs.value); callers keep it stable while the
// condition is (a count that grows with every retry would update the item
// at every retry).
//
// Health items are drift items of kind FACT_KIND_HEALTH, never facts: they
// enter neither the baseline, nor the set digest, nor the fact count, but
// they count in h.OpenDrift. Their ids derive from the host's
// HealthChanges number, which each transition increments, so a retried
// transaction repeats them. h is updated in memory; the caller stores it
// with PutHost, as after Apply.
func (e *Engine) Health(tx store.Tx, h *store.Host, condition string, open bool, detail string) ([]*plumbv1.DriftEvent, error) {
	if !healthConditions[condition] {
		return nil, fmt.Errorf("health condition %q: want reporting, coverage, digest or identity", condition)
	}
	k := fact.Key{Kind: plumbv1.FactKind_FACT_KIND_HEALTH, ID: condition}
	item, err := lookup(tx.Drift(h.ID, k))
	if err != nil {
		return nil, err
	}
	isOpen := item != nil && item.GetStatus() == plumbv1.DriftStatus_DRIFT_STATUS_OPEN
	detail = clipDetail(detail)
	if !open && detail == "" {
		detail = "condition cleared"
	}
	var typ plumbv1.DriftEventType
	switch {
	case open && !isOpen:
		typ = plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED
	case open && item.GetCurrent().GetValue().GetValue() != detail:
		typ = plumbv1.DriftEventType_DRIFT_EVENT_TYPE_UPDATED
	case !open && isOpen:
		typ = plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED
	default:
		return nil, nil
	}

	h.HealthChanges++
	a := e.applier(tx, h, cause{health: true, n: h.HealthChanges}, 0)
	if err := a.raise(k, item, typ, detail); err != nil {
		return nil, err
	}
	e.logger().Info("host health", "host", h.ID, "condition", condition, "transition", typ.String(), "detail", detail)
	return a.events, nil
}

// IsHealth reports whether an item or key of kind k is a health item.
func IsHealth(k plumbv1.FactKind) bool { return k == plumbv1.FactKind_FACT_KIND_HEALTH }

// IsRaised reports whether items of kind k are raised by the collector
// (health and expectation), never sent by an agent nor accepted.
func IsRaised(k plumbv1.FactKind) bool { return IsHealth(k) || IsExpectation(k) }

// ClipDetail is what an item's detail is cut to: valid UTF-8 of at most
// MaxHealthDetail bytes.
func ClipDetail(detail string) string { return clipDetail(detail) }

// clipDetail makes detail valid UTF-8 (a proto string must be) of at most
// MaxHealthDetail bytes, cut at a character boundary.
func clipDetail(detail string) string {
	detail = strings.ToValidUTF8(detail, "\uFFFD")
	if len(detail) <= MaxHealthDetail {
		return detail
	}
	cut := MaxHealthDetail - len("…")
	for cut > 0 && !utf8.RuneStart(detail[cut]) {
		cut--
	}
	return detail[:cut] + "…"
}

// raise moves the collector-raised item of k (health or expectation;
// item is its stored value, nil if none) through transition typ, with
// detail as its current value, and records the event.
func (a *applier) raise(k fact.Key, item *plumbv1.DriftItem, typ plumbv1.DriftEventType, detail string) error {
	h := a.h
	now := a.e.now().UnixNano()
	cur := fact.Seal(&plumbv1.Fact{
		Kind:             k.Kind,
		Key:              []byte(k.ID),
		Attrs:            &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: detail}},
		ObservedUnixNano: now,
	})
	switch typ {
	case plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED:
		// A closed item stays for history until this one replaces it.
		item = &plumbv1.DriftItem{
			Id:               itemID(h.ID, k, a.cause),
			HostId:           h.ID,
			Kind:             k.Kind,
			Key:              []byte(k.ID),
			Change:           plumbv1.DriftChange_DRIFT_CHANGE_ADDED,
			Status:           plumbv1.DriftStatus_DRIFT_STATUS_OPEN,
			DetectedUnixNano: now,
		}
		h.OpenDrift++
	case plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED:
		item.Status = plumbv1.DriftStatus_DRIFT_STATUS_RESOLVED
		if h.OpenDrift > 0 {
			h.OpenDrift--
		}
	}
	item.Current = cur
	item.ObservedUnixNano = now
	item.UpdatedUnixNano = now
	return a.record(item, typ, now)
}
