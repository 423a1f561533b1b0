package drift

import (
	"errors"
	"fmt"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// ErrExpectationItem is returned, wrapped, by Accept for an expectation
// item: the policy says what the host must have; the host complies, or
// the policy changes.
var ErrExpectationItem = errors.New("an expectation item cannot be accepted: it resolves when the host complies with the rule, or the policy changes")

// IsExpectation reports whether an item or key of kind k is an
// expectation item (a policy rule the host violates).
func IsExpectation(k plumbv1.FactKind) bool { return k == plumbv1.FactKind_FACT_KIND_EXPECTATION }

// Verdict is one policy rule's judgement of one host.
type Verdict struct {
	// Rule is the rule's name, the key of its expectation item.
	Rule string
	// Violated: the host does not have what the rule wants.
	Violated bool
	// Detail names the rule and what the host has, for the item's
	// current value ("package nginx:amd64 is 1.22.1-9, policy web-nginx
	// wants >= 1.24"). Kept stable while the observed value is: a change
	// updates the item.
	Detail string
}

// Evaluator holds declared expectations. Apply and ReplaceBucket call it
// with every fact that changed (cur nil when it was deleted), after the
// change is stored; it returns the verdicts of the rules the change
// concerns, none for a fact no rule names. It is called on the hot path:
// it must look rules up by (kind, key), not walk them.
//
// All returns the verdicts of every rule that selects the host: the
// engine calls it when a host's first snapshot becomes its baseline
// (rules about facts the host lacks are judged there, no fact having
// changed), and when its labels change.
type Evaluator interface {
	Check(tx store.ReadTx, h *store.Host, k fact.Key, cur *plumbv1.Fact) ([]Verdict, error)
	All(tx store.ReadTx, h *store.Host) ([]Verdict, error)
}

// expect applies the engine's evaluator to the change of k.
func (a *applier) expect(k fact.Key, cur *plumbv1.Fact) error {
	if a.e.Expect == nil {
		return nil
	}
	vs, err := a.e.Expect.Check(a.tx, a.h, k, cur)
	if err != nil {
		return fmt.Errorf("policy check of %s on host %q: %w", k, a.h.ID, err)
	}
	for _, v := range vs {
		if err := a.verdict(v); err != nil {
			return err
		}
	}
	return nil
}

// verdict opens, updates or resolves the expectation item of v.Rule.
func (a *applier) verdict(v Verdict) error {
	k := fact.Key{Kind: plumbv1.FactKind_FACT_KIND_EXPECTATION, ID: v.Rule}
	item, err := lookup(a.tx.Drift(a.h.ID, k))
	if err != nil {
		return err
	}
	isOpen := item != nil && item.GetStatus() == plumbv1.DriftStatus_DRIFT_STATUS_OPEN
	detail := clipDetail(v.Detail)
	var typ plumbv1.DriftEventType
	switch {
	case v.Violated && !isOpen:
		typ = plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED
	case v.Violated && item.GetCurrent().GetValue().GetValue() != detail:
		typ = plumbv1.DriftEventType_DRIFT_EVENT_TYPE_UPDATED
	case !v.Violated && isOpen:
		typ = plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED
	default:
		return nil
	}
	if err := a.raise(k, item, typ, detail); err != nil {
		return err
	}
	a.e.logger().Info("host expectation", "host", a.h.ID, "rule", v.Rule, "transition", typ.String(), "detail", detail)
	return nil
}

// Expectations sets the host's expectation items to verdicts, the
// judgement of every rule of the policy in force that applies to the
// host: violated rules open or update their items, complied ones resolve
// theirs, and open items of rules not among verdicts (gone from the
// policy, or no longer selecting the host) resolve. It is how applying a
// policy re-evaluates a host. The transitions' ids derive from the host's
// HealthChanges number, which it increments when anything changes; h is
// updated in memory and the caller stores it with PutHost.
func (e *Engine) Expectations(tx store.Tx, h *store.Host, verdicts []Verdict) ([]*plumbv1.DriftEvent, error) {
	a := e.applier(tx, h, cause{health: true, n: h.HealthChanges + 1}, 0)
	if err := a.settle(verdicts); err != nil {
		return nil, err
	}
	if len(a.events) > 0 {
		h.HealthChanges++
	}
	return a.events, nil
}

// Relabeled re-judges the host by every rule after its labels changed
// (a rule's selector may take it in or leave it out), as Expectations
// does. A host without a baseline is left alone: its first snapshot is
// still arriving, and it is judged when that becomes the baseline.
func (e *Engine) Relabeled(tx store.Tx, h *store.Host) ([]*plumbv1.DriftEvent, error) {
	if e.Expect == nil || !h.HasBaseline {
		return nil, nil
	}
	vs, err := e.Expect.All(tx, h)
	if err != nil {
		return nil, fmt.Errorf("policy check of host %q: %w", h.ID, err)
	}
	return e.Expectations(tx, h, vs)
}

// expectAll judges the host by every rule that selects it, as
// Expectations does, within the applier's cause.
func (a *applier) expectAll() error {
	if a.e.Expect == nil {
		return nil
	}
	vs, err := a.e.Expect.All(a.tx, a.h)
	if err != nil {
		return fmt.Errorf("policy check of host %q: %w", a.h.ID, err)
	}
	return a.settle(vs)
}

// settle applies verdicts and resolves the open expectation items of
// rules not among them.
func (a *applier) settle(verdicts []Verdict) error {
	named := make(map[string]bool, len(verdicts))
	for _, v := range verdicts {
		named[v.Rule] = true
	}
	var stale []Verdict
	err := a.tx.DriftItems(a.h.ID, false, func(item *plumbv1.DriftItem) error {
		if IsExpectation(item.GetKind()) && !named[string(item.GetKey())] {
			stale = append(stale, Verdict{Rule: string(item.GetKey()), Detail: "rule " + string(item.GetKey()) + " no longer applies to this host"})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, v := range append(verdicts, stale...) {
		if err := a.verdict(v); err != nil {
			return err
		}
	}
	return nil
}
