package drift

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// health runs one Health call in its own transaction, as its callers do,
// storing the host.
func (r *rig) health(condition string, open bool, detail string) []*plumbv1.DriftEvent {
	r.t.Helper()
	evs, err := r.healthErr(condition, open, detail)
	if err != nil {
		r.t.Fatalf("health %s: %v", condition, err)
	}
	return evs
}

func (r *rig) healthErr(condition string, open bool, detail string) ([]*plumbv1.DriftEvent, error) {
	var out []*plumbv1.DriftEvent
	err := r.st.Update(r.t.Context(), func(tx store.Tx) error {
		h, err := tx.Host(hostID)
		if errors.Is(err, store.ErrNotFound) {
			h, err = &store.Host{ID: hostID}, nil
		}
		if err != nil {
			return err
		}
		if out, err = r.eng.Health(tx, h, condition, open, detail); err != nil {
			return err
		}
		return tx.PutHost(h)
	})
	return out, err
}

func healthKey(condition string) fact.Key {
	return fact.Key{Kind: plumbv1.FactKind_FACT_KIND_HEALTH, ID: condition}
}

func (r *rig) healthItem(condition string) *plumbv1.DriftItem {
	r.t.Helper()
	var it *plumbv1.DriftItem
	err := r.st.View(r.t.Context(), func(tx store.ReadTx) error {
		var err error
		it, err = tx.Drift(hostID, healthKey(condition))
		return err
	})
	if err != nil {
		r.t.Fatalf("health item %s: %v", condition, err)
	}
	return it
}

func detailOf(ev *plumbv1.DriftEvent) string { return ev.GetItem().GetCurrent().GetValue().GetValue() }

func TestHealthTransitions(t *testing.T) {
	r := newRig(t)
	a := sysctl("a", "1")
	r.apply(upsert(a), checkpoint())
	before := r.host()

	evs := r.health(HealthCoverage, true, "file: watch_limit /etc")
	if diff := cmp.Diff([]string{"OPENED:ADDED:coverage"}, types(evs)); diff != "" {
		t.Fatalf("open (-want +got):\n%s", diff)
	}
	opened := evs[0]
	it := opened.GetItem()
	if it.GetKind() != plumbv1.FactKind_FACT_KIND_HEALTH || it.GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_OPEN ||
		it.GetSeverity() != plumbv1.Severity_SEVERITY_WARNING || detailOf(opened) != "file: watch_limit /etc" ||
		it.GetDetectedUnixNano() != t0.UnixNano() || it.GetBaseline() != nil {
		t.Errorf("opened item = %v", it)
	}
	if got := it.GetCurrent(); got.GetKind() != plumbv1.FactKind_FACT_KIND_HEALTH || string(got.GetKey()) != "coverage" ||
		string(got.GetDigest()) != string(fact.Digest(got)) {
		t.Errorf("current fact = %v", got)
	}
	h := r.host()
	if h.OpenDrift != 1 || h.HealthChanges != 1 {
		t.Errorf("host after open: open drift %d, health changes %d", h.OpenDrift, h.HealthChanges)
	}
	// Never a fact, never in the digest or the count, never a baseline.
	if h.FactCount != before.FactCount || string(h.Digest.Sum()) != string(before.Digest.Sum()) {
		t.Errorf("health moved the facts: %d facts %x, before %d %x", h.FactCount, h.Digest.Sum(), before.FactCount, before.Digest.Sum())
	}
	r.checkDigest()
	err := r.st.View(t.Context(), func(tx store.ReadTx) error {
		if _, err := tx.Fact(hostID, healthKey(HealthCoverage)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("health stored as a fact: %v", err)
		}
		if _, err := tx.Baseline(hostID, healthKey(HealthCoverage)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("health stored as a baseline: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The same condition again is no transition.
	if evs := r.health(HealthCoverage, true, "file: watch_limit /etc"); len(evs) != 0 {
		t.Errorf("same detail again: %v", types(evs))
	}
	// A new detail updates the open item, under its id.
	evs = r.health(HealthCoverage, true, "file: watch_limit /etc; file: unreadable /root")
	if diff := cmp.Diff([]string{"UPDATED:ADDED:coverage"}, types(evs)); diff != "" {
		t.Errorf("update (-want +got):\n%s", diff)
	} else if evs[0].GetItem().GetId() != it.GetId() || evs[0].GetId() == opened.GetId() {
		t.Errorf("update: item %s event %s, opened as item %s event %s", evs[0].GetItem().GetId(), evs[0].GetId(), it.GetId(), opened.GetId())
	}
	// Clearing resolves it, saying what cleared.
	r.now = r.now.Add(time.Minute)
	evs = r.health(HealthCoverage, false, "full coverage again")
	if diff := cmp.Diff([]string{"RESOLVED:ADDED:coverage"}, types(evs)); diff != "" {
		t.Errorf("resolve (-want +got):\n%s", diff)
	} else if detailOf(evs[0]) != "full coverage again" || evs[0].GetItem().GetId() != it.GetId() ||
		evs[0].GetItem().GetUpdatedUnixNano() != r.now.UnixNano() {
		t.Errorf("resolved item = %v", evs[0].GetItem())
	}
	if got := r.healthItem(HealthCoverage); got.GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_RESOLVED {
		t.Errorf("stored item after resolve: %v", got.GetStatus())
	}
	if h := r.host(); h.OpenDrift != 0 {
		t.Errorf("open drift after resolve = %d", h.OpenDrift)
	}
	// Clearing what is not open, or was never raised, is no transition.
	if evs := r.health(HealthCoverage, false, ""); len(evs) != 0 {
		t.Errorf("resolve again: %v", types(evs))
	}
	if evs := r.health(HealthReporting, false, ""); len(evs) != 0 {
		t.Errorf("resolve of a condition never raised: %v", types(evs))
	}
	// Opening again is a new item.
	evs = r.health(HealthCoverage, true, "file: watch_limit /etc")
	if len(evs) != 1 || evs[0].GetType() != plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED || evs[0].GetItem().GetId() == it.GetId() {
		t.Errorf("reopen: %v", evs)
	}
	// Every transition is in the log, each under its own id.
	ids := map[string]bool{}
	n := 0
	for _, ev := range r.log() {
		if ev.GetItem().GetKind() == plumbv1.FactKind_FACT_KIND_HEALTH {
			n++
			ids[ev.GetId()] = true
		}
	}
	if n != 4 || len(ids) != 4 {
		t.Errorf("log holds %d health events with %d ids, want 4 and 4", n, len(ids))
	}
	// Identity is critical by default.
	if evs := r.health(HealthIdentity, true, "another key"); len(evs) != 1 || evs[0].GetItem().GetSeverity() != plumbv1.Severity_SEVERITY_CRITICAL {
		t.Errorf("identity: %v", evs)
	}
}

// The same transitions give the same ids, on another store or after a
// transaction that did not commit; other hosts and conditions, other ids.
func TestHealthIDsDeterministic(t *testing.T) {
	run := func(failFirst bool) []string {
		r := newRig(t)
		var ids []string
		step := func(cond string, open bool, detail string) {
			if failFirst {
				boom := errors.New("boom")
				err := r.st.Update(t.Context(), func(tx store.Tx) error {
					h, err := tx.Host(hostID)
					if errors.Is(err, store.ErrNotFound) {
						h = &store.Host{ID: hostID}
					}
					if _, err := r.eng.Health(tx, h, cond, open, detail); err != nil {
						return err
					}
					return boom
				})
				if !errors.Is(err, boom) {
					t.Fatal(err)
				}
			}
			r.now = r.now.Add(time.Second) // the clock moves; ids do not follow it
			for _, ev := range r.health(cond, open, detail) {
				ids = append(ids, ev.GetItem().GetId()+"/"+ev.GetId())
			}
		}
		step(HealthDigest, true, "mismatch")
		step(HealthReporting, true, "no report")
		step(HealthDigest, true, "mismatch again")
		step(HealthDigest, false, "")
		step(HealthDigest, true, "mismatch")
		step(HealthReporting, false, "")
		return ids
	}
	a, b := run(false), run(true)
	if len(a) != 6 {
		t.Fatalf("%d transitions, want 6: %v", len(a), a)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("ids differ between runs (-first +second):\n%s", diff)
	}
	seen := map[string]bool{}
	for _, id := range a {
		ev := id[strings.Index(id, "/")+1:]
		if seen[ev] {
			t.Errorf("event id %s twice", ev)
		}
		seen[ev] = true
	}
	// Health ids hash under their own tag: health change 1 is not delta 1
	// nor resync 1.
	k := healthKey(HealthDigest)
	if x, y, z := itemID("h", k, cause{n: 1}), itemID("h", k, cause{resync: true, n: 1}), itemID("h", k, cause{health: true, n: 1}); x == z || y == z {
		t.Errorf("health item id collides with a delta's or resync's")
	}
}

func TestHealthNotAcceptable(t *testing.T) {
	r := newRig(t)
	a := sysctl("a", "1")
	r.apply(upsert(a), checkpoint())
	r.apply(upsert(sysctl("a", "2")))
	r.health(HealthDigest, true, "mismatch")

	k := healthKey(HealthDigest)
	if _, _, err := r.accept(&k, "alice", "make it go away"); !errors.Is(err, ErrHealthItem) {
		t.Errorf("accepting a health item: %v, want ErrHealthItem", err)
	}
	items, _, err := r.accept(nil, "alice", "all of it")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].GetKind() != plumbv1.FactKind_FACT_KIND_SYSCTL {
		t.Errorf("accept all accepted %v, want only the sysctl", items)
	}
	if got := r.healthItem(HealthDigest); got.GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_OPEN {
		t.Errorf("health item after accept all: %v", got.GetStatus())
	}
	if h := r.host(); h.OpenDrift != 1 {
		t.Errorf("open drift after accept all = %d, want 1 (the health item)", h.OpenDrift)
	}
	if b := r.baseline(&plumbv1.Fact{Kind: k.Kind, Key: []byte(k.ID)}); b != nil {
		t.Errorf("health in the baseline: %v", b)
	}
}

// An agent cannot send health: not as an upsert, a delete, or in a resync.
func TestHealthFromAgentRefused(t *testing.T) {
	r := newRig(t)
	r.apply(upsert(sysctl("a", "1")), checkpoint())
	forged := fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_HEALTH, Key: []byte("identity"),
		Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: "all good"}}})
	for name, d := range map[string]*plumbv1.Delta{
		"upsert": {Seq: 100, Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: forged},
		"delete": {Seq: 100, Op: plumbv1.DeltaOp_DELTA_OP_DELETE, Fact: &plumbv1.Fact{Kind: forged.Kind, Key: forged.Key}},
	} {
		if _, err := r.applyErr(d); !errors.Is(err, ErrInvalidDelta) {
			t.Errorf("%s: %v, want ErrInvalidDelta", name, err)
		}
	}
	err := r.st.Update(t.Context(), func(tx store.Tx) error {
		h, err := tx.Host(hostID)
		if err != nil {
			return err
		}
		_, err = r.eng.ReplaceBucket(tx, h, fact.KeyOf(forged).Bucket(), []*plumbv1.Fact{forged})
		return err
	})
	if !errors.Is(err, ErrInvalidDelta) {
		t.Errorf("resync: %v, want ErrInvalidDelta", err)
	}
}

func TestHealthInputs(t *testing.T) {
	r := newRig(t)
	if _, err := r.healthErr("mood", true, "grumpy"); err == nil {
		t.Error("an unknown condition was raised")
	}
	long := strings.Repeat("é", MaxHealthDetail) + "\xff"
	evs := r.health(HealthCoverage, true, long)
	d := detailOf(evs[0])
	if len(d) > MaxHealthDetail || !utf8.ValidString(d) || !strings.HasSuffix(d, "…") {
		t.Errorf("detail of %d bytes, valid %v: %.20q…", len(d), utf8.ValidString(d), d)
	}
	if evs := r.health(HealthCoverage, false, ""); len(evs) != 1 || detailOf(evs[0]) == "" {
		t.Errorf("resolved without a detail: %v", evs)
	}
}
