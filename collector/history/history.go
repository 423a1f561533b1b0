// Package history reconstructs a host's facts at a past time from its
// current facts and its fact history (store.FactChange: the value each
// fact had until each change), and says what changed between two times.
//
// A change recorded at time c belongs to every time t >= c: the state at
// t is the current state with every change after t undone. The first
// change of a key after t holds the value the key had at t.
package history

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// MaxChanges bounds the history entries one reconstruction reads, so that
// a call's memory stays bounded whatever the history holds.
const MaxChanges = 250_000

// ErrTooMuch is a reconstruction that would read more than MaxChanges
// entries: ask for a later time or a shorter range.
var ErrTooMuch = fmt.Errorf("more than %d fact changes in the range", MaxChanges)

// Undo maps a key to the value it had at a past time where that differs
// from its current value; nil means the fact did not exist then.
type Undo map[fact.Key]*plumbv1.Fact

// At returns what to undo in the host's current facts to get its facts at
// time at (unix nano, collector clock).
func At(tx store.ReadTx, host string, at int64) (Undo, error) {
	u := Undo{}
	n := 0
	err := tx.FactChanges(host, at, func(c *store.FactChange) error {
		if n++; n > MaxChanges {
			return ErrTooMuch
		}
		if _, seen := u[c.Key]; !seen {
			u[c.Key] = c.Old
		}
		return nil
	})
	return u, err
}

// Keys returns u's keys in the store's order (fact.Key.Encode), those of
// kind only unless kind is unspecified.
func (u Undo) Keys(kind plumbv1.FactKind) []fact.Key {
	var ks []fact.Key
	for k := range u {
		if kind == plumbv1.FactKind_FACT_KIND_UNSPECIFIED || k.Kind == kind {
			ks = append(ks, k)
		}
	}
	slices.SortFunc(ks, func(a, b fact.Key) int { return bytes.Compare(a.Encode(), b.Encode()) })
	return ks
}

// Change is one fact whose value at since differs from its value at until.
type Change struct {
	Key           fact.Key
	Before, After *plumbv1.Fact // nil: did not exist
	// At is the time of the last recorded change within the range.
	At int64
}

// Between returns the host's facts whose value at since differs from their
// value at until (0: now), in the store's key order.
func Between(tx store.ReadTx, host string, since, until int64) ([]Change, error) {
	if until != 0 && until < since {
		return nil, errors.New("until is before since")
	}
	type span struct {
		before, after *plumbv1.Fact
		afterSet      bool
		at            int64
	}
	spans := map[fact.Key]*span{}
	n := 0
	err := tx.FactChanges(host, since, func(c *store.FactChange) error {
		if n++; n > MaxChanges {
			return ErrTooMuch
		}
		s := spans[c.Key]
		if until == 0 || c.At <= until {
			if s == nil {
				spans[c.Key] = &span{before: c.Old, at: c.At}
			} else {
				s.at = c.At
			}
			return nil
		}
		// After the range: the first such change holds the value at until.
		if s != nil && !s.afterSet {
			s.after, s.afterSet = c.Old, true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []Change
	for k, s := range spans {
		if !s.afterSet {
			cur, err := tx.Fact(host, k)
			switch {
			case errors.Is(err, store.ErrNotFound):
				cur = nil
			case err != nil:
				return nil, err
			}
			s.after = cur
		}
		if same(s.before, s.after) {
			continue
		}
		out = append(out, Change{Key: k, Before: s.before, After: s.after, At: s.at})
	}
	slices.SortFunc(out, func(a, b Change) int { return bytes.Compare(a.Key.Encode(), b.Key.Encode()) })
	return out, nil
}

// same reports whether two values of a fact (nil: absent) have one digest.
func same(a, b *plumbv1.Fact) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return bytes.Equal(a.GetDigest(), b.GetDigest())
}
