package storetest

import (
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// notFoundTests: every getter tells a missing record with
// store.ErrNotFound, and the lists and counts of what is missing are empty,
// not errors.
var notFoundTests = []test{
	{"NotFoundEmptyStore", func(t *testing.T, b Backend) { testNotFound(t, b, false) }},
	{"NotFoundBesideOthers", func(t *testing.T, b Backend) { testNotFound(t, b, true) }},
}

// testNotFound asks for missing things in an empty store, or in one that
// holds neighbours of each (same host, other key; other host, same key).
func testNotFound(t *testing.T, b Backend, neighbours bool) {
	s := b.Open(t)
	k := fact.Key{Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, ID: "missing"}
	other := sysctl("other", "1")
	there := fact.KeyOf(sysctl("there", "1"))
	if neighbours {
		update(t, s, func(tx store.Tx) error {
			for _, err := range []error{
				tx.PutHost(&store.Host{ID: "h"}),
				tx.PutFact("h", other), tx.PutBaseline("h", other),
				tx.PutFact("h2", sysctl("missing", "1")), tx.PutBaseline("h2", sysctl("missing", "1")),
				tx.PutDrift(driftItem("h", "other", plumbv1.DriftStatus_DRIFT_STATUS_OPEN)),
				tx.PutDrift(driftItem("h2", "missing", plumbv1.DriftStatus_DRIFT_STATUS_OPEN)),
				tx.PutJoinToken(&store.JoinToken{ID: "other"}),
				tx.PutAPIToken(&store.APIToken{ID: "other"}),
				tx.PutIdentity(&store.Identity{HostID: "other"}),
				tx.PutSilence(&store.Silence{ID: "other"}),
				tx.PutGroupBaseline(&store.GroupBaseline{Group: "other"}),
				tx.PutGroupBaselineFact("g", other),
				tx.PutGroupBaselineFact("other", sysctl("missing", "1")),
				tx.PutGroupException(&store.GroupException{Group: "g", Host: "h", Key: there}),
				tx.PutGroupException(&store.GroupException{Group: "g", Host: "h2", Key: k}),
				tx.PutGroupException(&store.GroupException{Group: "other", Host: "h", Key: k}),
				tx.PutPolicy(&store.Policy{Version: 2}),
				tx.PutSecret("other", []byte("x")),
			} {
				if err != nil {
					return err
				}
			}
			_, err := tx.ClaimLease("other", "c1", 0, 10)
			return err
		})
	}
	view(t, s, func(tx store.ReadTx) error {
		missing := map[string]error{}
		_, missing["Host(ghost)"] = tx.Host("ghost")
		_, missing["Host(h2), with facts but no record"] = tx.Host("h2")
		_, missing["Fact(h, missing)"] = tx.Fact("h", k)
		_, missing["Fact(ghost, missing)"] = tx.Fact("ghost", k)
		_, missing["Baseline(h, missing)"] = tx.Baseline("h", k)
		_, missing["Drift(h, missing)"] = tx.Drift("h", k)
		_, missing["Drift(ghost, missing)"] = tx.Drift("ghost", k)
		_, missing["JoinToken"] = tx.JoinToken("missing")
		_, missing["APIToken"] = tx.APIToken("missing")
		_, missing["Identity"] = tx.Identity("missing")
		_, missing["Silence"] = tx.Silence("missing")
		_, missing["GroupBaseline"] = tx.GroupBaseline("g")
		_, missing["GroupBaselineFact(g)"] = tx.GroupBaselineFact("g", k)
		_, missing["GroupBaselineFact(missing group)"] = tx.GroupBaselineFact("missing", k)
		_, missing["GroupException(g, h)"] = tx.GroupException("g", "h", k)
		_, missing["GroupException(missing group)"] = tx.GroupException("missing", "h", k)
		_, missing["Policy(1)"] = tx.Policy(1)
		_, missing["Lease"] = tx.Lease("missing")
		_, missing["Secret"] = tx.Secret("missing")
		if !neighbours {
			_, missing["Host(h)"] = tx.Host("h")
			_, missing["LatestPolicy"] = tx.LatestPolicy()
		}
		for what, err := range missing {
			wantNotFound(t, what, err)
		}

		// Missing is zero or empty, not an error.
		if c, err := tx.Cursor("missing"); c != 0 || err != nil {
			t.Errorf("Cursor(missing) = %d, %v; want 0, nil", c, err)
		}
		counts, err := tx.OpenDriftCounts("ghost")
		if err != nil || counts.GetCritical()+counts.GetWarning()+counts.GetInfo()+counts.GetHealth() != 0 || len(counts.GetHealthKeys()) != 0 {
			t.Errorf("OpenDriftCounts(ghost) = %v, %v; want zero", counts, err)
		}
		if evs, err := tx.EventsAfter(0, 10); err != nil || len(evs) != 0 {
			t.Errorf("EventsAfter on an empty log = %v, %v", evs, err)
		}
		if seq, err := tx.LastEventSeq(); err != nil || seq != 0 {
			t.Errorf("LastEventSeq on an empty log = %d, %v; want 0", seq, err)
		}
		if recs, err := tx.AuditAfter(0, 10); err != nil || len(recs) != 0 {
			t.Errorf("AuditAfter on an empty log = %v, %v", recs, err)
		}
		empty := func(what string, err error) {
			t.Helper()
			if err != nil {
				t.Errorf("%s of something missing: %v, want no error", what, err)
			}
		}
		none := func(what string) error {
			t.Errorf("%s of something missing called its callback", what)
			return nil
		}
		empty("Facts", tx.Facts("ghost", 0, func(*plumbv1.Fact) error { return none("Facts") }))
		empty("FactsAfter", tx.FactsAfter("ghost", 0, &k, func(*plumbv1.Fact) error { return none("FactsAfter") }))
		empty("FactsInBucket", tx.FactsInBucket("ghost", k.Bucket(), func(*plumbv1.Fact) error { return none("FactsInBucket") }))
		empty("Baselines", tx.Baselines("ghost", func(*plumbv1.Fact) error { return none("Baselines") }))
		empty("DriftItems", tx.DriftItems("ghost", true, func(*plumbv1.DriftItem) error { return none("DriftItems") }))
		empty("DriftItemsAfter", tx.DriftItemsAfter("ghost", 0, nil, func(*plumbv1.DriftItem) error { return none("DriftItemsAfter") }))
		empty("GroupBaselineFacts", tx.GroupBaselineFacts("missing", func(*plumbv1.Fact) error { return none("GroupBaselineFacts") }))
		empty("GroupExceptions", tx.GroupExceptions("missing", func(*store.GroupException) error { return none("GroupExceptions") }))
		empty("FactChanges", tx.FactChanges("ghost", 0, func(*store.FactChange) error { return none("FactChanges") }))
		empty("PoliciesBefore", tx.PoliciesBefore(1, func(*store.Policy) error { return none("PoliciesBefore") }))
		return nil
	})
}
