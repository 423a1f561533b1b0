package drift

import (
	"errors"
	"fmt"
	"slices"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/golden"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// ErrNoSnapshot is returned by Promote for a host whose first complete
// snapshot has not arrived: its facts are not yet a whole state.
var ErrNoSnapshot = errors.New("host has no complete snapshot yet")

// groupBaseline returns the baseline of the host's group, nil if it has
// none, loading it once per applier.
func (a *applier) groupBaseline() (*store.GroupBaseline, error) {
	if a.groupLoaded {
		return a.group, nil
	}
	if g := a.h.Labels[golden.GroupLabel]; g != "" {
		gb, err := lookup(a.tx.GroupBaseline(g))
		if err != nil {
			return nil, err
		}
		a.group = gb
	}
	a.groupLoaded = true
	return a.group, nil
}

// expected returns the value the host is held to for k: its group's
// baseline value (and the group's name) when the group's baseline covers
// k and the host has no exception for it, else its own baseline value
// (and ""). A nil value means the fact is expected to be absent.
func (a *applier) expected(k fact.Key) (*plumbv1.Fact, string, error) {
	gb, err := a.groupBaseline()
	if err != nil {
		return nil, "", err
	}
	if gb != nil && golden.Covers(gb, a.e.GroupExclusions, k) {
		exc, err := lookup(a.tx.GroupException(gb.Group, a.h.ID, k))
		if err != nil {
			return nil, "", err
		}
		if exc == nil {
			base, err := lookup(a.tx.GroupBaselineFact(gb.Group, k))
			return base, gb.Group, err
		}
	}
	base, err := lookup(a.tx.Baseline(a.h.ID, k))
	return base, "", err
}

// regroup re-evaluates the host's facts that its group's baseline covers
// (within sel, when not nil): those the baseline has, those the host has,
// and those with open drift (a fact both lack may have been expected
// before). A host without a group baseline, or without its own first
// snapshot, is left alone.
func (a *applier) regroup(sel *store.Selection) error {
	gb, err := a.groupBaseline()
	if gb == nil || err != nil || !a.h.HasBaseline {
		return err
	}
	in := func(k fact.Key) bool {
		return golden.Covers(gb, a.e.GroupExclusions, k) && (sel == nil || golden.Matches(*sel, k))
	}
	keys := map[fact.Key]*plumbv1.Fact{}
	err = a.tx.GroupBaselineFacts(gb.Group, func(f *plumbv1.Fact) error {
		if k := fact.KeyOf(f); in(k) {
			keys[k] = nil
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("regroup host %q: %w", a.h.ID, err)
	}
	kind := plumbv1.FactKind_FACT_KIND_UNSPECIFIED
	if sel != nil {
		kind = plumbv1.FactKind(sel.Kind)
	}
	err = a.tx.Facts(a.h.ID, kind, func(f *plumbv1.Fact) error {
		if k := fact.KeyOf(f); in(k) {
			keys[k] = f
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("regroup host %q: %w", a.h.ID, err)
	}
	err = a.tx.DriftItems(a.h.ID, false, func(it *plumbv1.DriftItem) error {
		if k := (fact.Key{Kind: it.GetKind(), ID: string(it.GetKey())}); in(k) {
			if _, ok := keys[k]; !ok {
				keys[k] = nil // absent: the host's facts were all read
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("regroup host %q: %w", a.h.ID, err)
	}
	for _, k := range sortedKeys(keys) {
		if err := a.evaluate(k, keys[k]); err != nil {
			return err
		}
	}
	return nil
}

// Promote makes the current facts of host source within sel (excluding
// GroupExclusions and health) the baseline of group, replacing what the
// group's baseline held within sel, and records who promoted it and why.
// It does not re-evaluate members: the caller calls Regroup for each,
// in this transaction or later ones. An unknown host is store.ErrNotFound;
// one without a complete snapshot ErrNoSnapshot.
func (e *Engine) Promote(tx store.Tx, source, group string, sel store.Selection, by, reason string) (*store.GroupBaseline, error) {
	h, err := tx.Host(source)
	if err != nil {
		return nil, err
	}
	if !h.HasBaseline {
		return nil, fmt.Errorf("promote host %q: %w", source, ErrNoSnapshot)
	}
	gb, err := lookup(tx.GroupBaseline(group))
	if err != nil {
		return nil, err
	}
	if gb == nil {
		gb = &store.GroupBaseline{Group: group}
	}
	var stale []fact.Key
	err = tx.GroupBaselineFacts(group, func(f *plumbv1.Fact) error {
		if k := fact.KeyOf(f); golden.Matches(sel, k) {
			stale = append(stale, k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, k := range stale {
		if err := tx.DeleteGroupBaselineFact(group, k); err != nil {
			return nil, err
		}
	}
	var fresh []*plumbv1.Fact
	err = tx.Facts(source, plumbv1.FactKind(sel.Kind), func(f *plumbv1.Fact) error {
		if k := fact.KeyOf(f); golden.Matches(sel, k) && !e.GroupExclusions.Excludes(k) {
			fresh = append(fresh, f)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, f := range fresh {
		if err := tx.PutGroupBaselineFact(group, f); err != nil {
			return nil, err
		}
	}
	if sel == (store.Selection{}) {
		gb.Selections = []store.Selection{sel}
	} else if !slices.Contains(gb.Selections, sel) && !slices.Contains(gb.Selections, store.Selection{}) {
		gb.Selections = append(gb.Selections, sel)
	}
	var n uint64
	if err := tx.GroupBaselineFacts(group, func(*plumbv1.Fact) error { n++; return nil }); err != nil {
		return nil, err
	}
	gb.SourceHost, gb.By, gb.Reason, gb.At = source, by, reason, e.now().UnixNano()
	gb.Generation++
	gb.FactCount = n
	if err := tx.PutGroupBaseline(gb); err != nil {
		return nil, err
	}
	actor := by
	if actor == "" {
		actor = "unknown"
	}
	if err := store.Audit(tx, e.now(), actor, "baseline.promote", source, "group "+group, reason); err != nil {
		return nil, err
	}
	e.logger().Info("group baseline promoted", "group", group, "host", source, "generation", gb.Generation,
		"facts", n, "promoted", len(fresh), "by", by, "reason", reason)
	return gb, nil
}

// Regroup re-evaluates member host's facts within sel (nil: all) against
// its group's baseline after promotion generation gen of that group,
// stores the host and returns the drift events, appended to the event log.
// Ids derive from the group and gen, so a retried or repeated Regroup
// gives the same ids, and evaluating an already current fact does nothing.
// A host whose group label no longer names group is left alone.
func (e *Engine) Regroup(tx store.Tx, hostID, group string, gen uint64, sel *store.Selection) ([]*plumbv1.DriftEvent, error) {
	h, err := lookup(tx.Host(hostID))
	if h == nil || err != nil || h.Labels[golden.GroupLabel] != group {
		return nil, err
	}
	a := e.applier(tx, h, cause{promote: group, n: gen}, 0)
	if err := a.regroup(sel); err != nil {
		return nil, err
	}
	if len(a.events) > 0 {
		if err := tx.PutHost(h); err != nil {
			return nil, err
		}
	}
	return a.events, nil
}
