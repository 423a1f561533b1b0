package ingest

import (
	"context"
	"path/filepath"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// startWriter runs a Server's committer on st until the test ends.
func startWriter(t *testing.T, st store.Store) *committer {
	t.Helper()
	srv := New(st, &drift.Engine{}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go srv.Run(ctx)
	return srv.committer
}

// Resyncs apply no delta, so the host's applied seq stays put across them.
// A fact that a resync drifts, the next resolves and a third drifts again
// (after a collector restart) must open a new item with new event ids:
// webhook receivers deduplicate by id and would drop a reused one.
func TestResyncsAtOneAppliedSeqGetDistinctIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { st.Close() }()
	ctx := context.Background()
	c := startWriter(t, st)

	a := upsert(1, "/a", "1")
	var d fact.SetDigest
	d.Add(fact.KeyOf(a.GetFact()), a.GetFact().GetDigest())
	if r := c.submit(ctx, &job{host: "h", kind: jobDeltas, deltas: []*plumbv1.Delta{a, checkpoint(2, &d)}}); r.err != nil || r.appliedSeq != 2 {
		t.Fatalf("deltas: applied %d, %v", r.appliedSeq, r.err)
	}
	resync := func(c *committer, content string) {
		t.Helper()
		f := upsert(0, "/a", content).GetFact()
		r := c.submit(ctx, &job{host: "h", kind: jobBucket, bucket: &bucketJob{bucket: fact.KeyOf(f).Bucket(), facts: []*plumbv1.Fact{f}}})
		if r.err != nil || r.events != 1 {
			t.Fatalf("resync to %q: %d events, %v; want 1", content, r.events, r.err)
		}
	}
	resync(c, "2") // opens
	resync(c, "1") // resolves

	// A restart: the resync numbering must survive it.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err = store.Open(path, store.Options{}); err != nil {
		t.Fatal(err)
	}
	resync(startWriter(t, st), "2") // opens again

	var evs []*plumbv1.DriftEvent
	err = st.View(ctx, func(tx store.ReadTx) error {
		h, err := tx.Host("h")
		if err != nil {
			return err
		}
		if h.AppliedSeq != 2 {
			t.Errorf("applied seq %d, want 2: resyncs must not move it", h.AppliedSeq)
		}
		evs, err = tx.EventsAfter(0, 100)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []plumbv1.DriftEventType{
		plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED,
		plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED,
		plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED,
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	seen := map[string]int{}
	for i, ev := range evs {
		if ev.GetType() != want[i] {
			t.Errorf("event %d is %v, want %v", i, ev.GetType(), want[i])
		}
		if j, dup := seen[ev.GetId()]; dup {
			t.Errorf("event %d (%v) reuses the id %s of event %d", i, ev.GetType(), ev.GetId(), j)
		}
		seen[ev.GetId()] = i
	}
	if first, again := evs[0].GetItem().GetId(), evs[2].GetItem().GetId(); first == again {
		t.Errorf("reopened drift reuses item id %s", first)
	}
}
