package drift

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

func (r *rig) accept(k *fact.Key, by, reason string) ([]*plumbv1.DriftItem, []*plumbv1.DriftEvent, error) {
	var items []*plumbv1.DriftItem
	var evs []*plumbv1.DriftEvent
	err := r.st.Update(r.t.Context(), func(tx store.Tx) error {
		var err error
		items, evs, err = r.eng.Accept(tx, hostID, k, nil, by, reason)
		return err
	})
	return items, evs, err
}

func TestAcceptOne(t *testing.T) {
	r := newRig(t)
	a, b, c := sysctl("a", "1"), sysctl("b", "1"), sysctl("c", "1")
	r.apply(upsert(a), upsert(b), upsert(c), checkpoint())
	r.apply(upsert(sysctl("a", "2")), upsert(sysctl("b", "2")), del(c))

	ka := keyOf(a)
	items, evs, err := r.accept(&ka, "alice", "planned change CHG-42")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_ACCEPTED ||
		items[0].GetAcceptedBy() != "alice" || items[0].GetReason() != "planned change CHG-42" {
		t.Fatalf("accepted = %v", items)
	}
	if diff := cmp.Diff([]string{"ACCEPTED:MODIFIED:a"}, types(evs)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if got := r.item(a); got.GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_ACCEPTED {
		t.Errorf("stored item = %v", got)
	}
	if got := r.baseline(a); got.GetValue().GetValue() != "2" {
		t.Errorf("baseline after accept = %v, want 2", got)
	}
	if h := r.host(); h.OpenDrift != 2 {
		t.Errorf("open drift = %d, want 2", h.OpenDrift)
	}
	if log := r.log(); len(log) != 4 || log[3].GetId() != evs[0].GetId() {
		t.Errorf("accept event not in the log: %v", types(log))
	}

	// Returning to the old value is now drift from the accepted baseline.
	evs = r.apply(upsert(sysctl("a", "1")))
	if diff := cmp.Diff([]string{"OPENED:MODIFIED:a"}, types(evs)); diff != "" {
		t.Errorf("after accept (-want +got):\n%s", diff)
	}

	// Accepting a removal deletes the baseline.
	kc := keyOf(c)
	if _, _, err := r.accept(&kc, "bob", "decommissioned"); err != nil {
		t.Fatal(err)
	}
	if got := r.baseline(c); got != nil {
		t.Errorf("baseline of accepted removal = %v, want none", got)
	}
	if evs := r.apply(upsert(sysctl("b", "1"))); len(evs) != 1 {
		t.Errorf("b back to baseline: %v", types(evs))
	}
}

func TestAcceptErrors(t *testing.T) {
	r := newRig(t)
	a := sysctl("a", "1")
	r.apply(upsert(a), checkpoint())
	ka := keyOf(a)
	_, _, err := r.accept(&ka, "alice", "why")
	if !errors.Is(err, ErrNoOpenDrift) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("accept without drift: %v, want ErrNoOpenDrift and store.ErrNotFound", err)
	}
	err = r.st.Update(t.Context(), func(tx store.Tx) error {
		_, _, err := r.eng.Accept(tx, "ghost", nil, nil, "alice", "why")
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("accept on unknown host: %v, want store.ErrNotFound", err)
	}
	// Resolved items cannot be accepted.
	r.apply(upsert(sysctl("a", "2")), upsert(sysctl("a", "1")))
	if _, _, err := r.accept(&ka, "alice", "why"); !errors.Is(err, ErrNoOpenDrift) {
		t.Errorf("accept resolved item: %v, want ErrNoOpenDrift", err)
	}

	// A value the caller saw that is no longer current, and an expected
	// value without a fact to expect it of.
	r.apply(upsert(sysctl("a", "3")))
	for _, tc := range []struct {
		k    *fact.Key
		want *Expected
	}{
		{&ka, &Expected{Digest: sysctl("a", "2").GetDigest()}},
		{&ka, &Expected{}},
		{nil, &Expected{Digest: sysctl("a", "3").GetDigest()}},
	} {
		err := r.st.Update(t.Context(), func(tx store.Tx) error {
			_, _, err := r.eng.Accept(tx, hostID, tc.k, tc.want, "alice", "why")
			return err
		})
		if err == nil || (tc.k != nil) != errors.Is(err, ErrChanged) {
			t.Errorf("accept %v expecting %x: %v", tc.k, tc.want.Digest, err)
		}
	}
	if got := r.item(sysctl("a", "")); got.GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_OPEN {
		t.Errorf("item after refused accepts: %v", got.GetStatus())
	}
}

func TestAcceptAll(t *testing.T) {
	r := newRig(t)
	a, b := sysctl("a", "1"), sysctl("b", "1")
	r.apply(upsert(a), upsert(b), checkpoint())
	r.apply(upsert(sysctl("a", "2")), del(b), upsert(sysctl("n", "1")))
	r.apply(upsert(sysctl("x", "1")), del(sysctl("x", "1"))) // resolved: not accepted

	items, evs, err := r.accept(nil, "carol", "new image")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 {
		t.Fatalf("accepted %d items, want 3", len(items))
	}
	if diff := cmp.Diff([]string{"ACCEPTED:MODIFIED:a", "ACCEPTED:REMOVED:b", "ACCEPTED:ADDED:n"}, types(evs)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if h := r.host(); h.OpenDrift != 0 {
		t.Errorf("open drift = %d, want 0", h.OpenDrift)
	}
	// The baseline now equals the current state.
	var base, cur []string
	_ = r.st.View(t.Context(), func(tx store.ReadTx) error {
		_ = tx.Baselines(hostID, func(f *plumbv1.Fact) error {
			base = append(base, string(f.GetKey())+"="+f.GetValue().GetValue())
			return nil
		})
		return tx.Facts(hostID, 0, func(f *plumbv1.Fact) error {
			cur = append(cur, string(f.GetKey())+"="+f.GetValue().GetValue())
			return nil
		})
	})
	if diff := cmp.Diff(cur, base); diff != "" {
		t.Errorf("baseline vs current after accept all (-cur +base):\n%s", diff)
	}
	// Nothing left: accept all is an empty success.
	if items, _, err := r.accept(nil, "carol", "again"); err != nil || len(items) != 0 {
		t.Errorf("second accept all = %v, %v", items, err)
	}
}
