package storetest

import (
	"fmt"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// pruneTests: Prune bounds the history to Retention; the event log keeps
// what some cursor has not passed.
var pruneTests = []test{
	{"PruneEventsByAgeAndCursors", testPruneEvents},
	{"PruneDeletedCursorNoLongerHolds", testPruneDeletedCursor},
	{"PruneHistoryAndAudit", testPruneHistory},
}

// appendAt appends one event per time, returning their seqs.
func appendAt(t *testing.T, s store.Store, at ...time.Time) []uint64 {
	t.Helper()
	var seqs []uint64
	update(t, s, func(tx store.Tx) error {
		seqs = nil
		for _, a := range at {
			ev := &plumbv1.DriftEvent{Id: fmt.Sprint(a.UnixNano()), AtUnixNano: a.UnixNano()}
			if err := tx.AppendEvent(ev); err != nil {
				return err
			}
			seqs = append(seqs, ev.GetSeq())
		}
		return nil
	})
	return seqs
}

// seqsAfter lists the seqs of the events after after.
func seqsAfter(t *testing.T, s store.Store, after uint64) []uint64 {
	t.Helper()
	var out []uint64
	view(t, s, func(tx store.ReadTx) error {
		out = nil
		evs, err := tx.EventsAfter(after, 1<<20)
		for _, ev := range evs {
			out = append(out, ev.GetSeq())
		}
		return err
	})
	return out
}

func prune(t *testing.T, b Backend, s store.Store, now time.Time, want int, why string) {
	t.Helper()
	n, err := b.Prune(t.Context(), s, now)
	if err != nil || n != want {
		t.Errorf("Prune %s = %d, %v; want %d deleted", why, n, err, want)
	}
}

func testPruneEvents(t *testing.T, b Backend) {
	s := b.Open(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	old := now.Add(-2 * Retention)
	// The first four are old, the last two recent; the one exactly at
	// the cutoff is kept.
	seqs := appendAt(t, s, old, old, old, now.Add(-Retention-time.Nanosecond), now.Add(-Retention), now)

	// No cursors: age alone decides.
	prune(t, b, s, now, 4, "without cursors")
	if got, want := seqsAfter(t, s, 0), seqs[4:]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after prune: %v, want %v", got, want)
	}
	prune(t, b, s, now, 0, "again")

	// A lagging consumer holds old events back.
	more := appendAt(t, s, old, old, old) // out of time order on purpose
	update(t, s, func(tx store.Tx) error {
		if err := tx.SetCursor("webhook", more[2]); err != nil {
			return err
		}
		return tx.SetCursor("slack", seqs[3])
	})
	later := now.Add(3 * Retention)
	prune(t, b, s, later, 0, "behind a lagging cursor")
	update(t, s, func(tx store.Tx) error { return tx.SetCursor("slack", more[1]) })
	// All old by then; at or below both cursors up to more[1].
	prune(t, b, s, later, 4, "up to the slower cursor")
	if got := seqsAfter(t, s, 0); fmt.Sprint(got) != fmt.Sprint(more[2:]) {
		t.Errorf("after prune: %v, want %v", got, more[2:])
	}
	view(t, s, func(tx store.ReadTx) error {
		if last, err := tx.LastEventSeq(); err != nil || last != more[2] {
			t.Errorf("LastEventSeq after pruning = %d, %v; want %d", last, err, more[2])
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.SetCursor("slack", more[2]) })
	prune(t, b, s, later, 1, "everything")
	view(t, s, func(tx store.ReadTx) error {
		// The log's position survives pruning it empty, and numbering goes on.
		if last, err := tx.LastEventSeq(); err != nil || last != more[2] {
			t.Errorf("LastEventSeq after pruning every event = %d, %v; want %d", last, err, more[2])
		}
		return nil
	})
	next := appendAt(t, s, later)
	if next[0] <= more[2] {
		t.Errorf("an event appended after pruning got seq %d, not above the pruned %d", next[0], more[2])
	}
	if got := seqsAfter(t, s, 0); fmt.Sprint(got) != fmt.Sprint(next) {
		t.Errorf("after pruning and appending: %v, want %v", got, next)
	}
}

// testPruneDeletedCursor: a cursor at 0 holds back everything until it is
// deleted.
func testPruneDeletedCursor(t *testing.T, b Backend) {
	s := b.Open(t)
	now := time.Now()
	seqs := appendAt(t, s, now.Add(-2*Retention), now.Add(-2*Retention))
	update(t, s, func(tx store.Tx) error {
		if err := tx.SetCursor("slack", 0); err != nil {
			return err
		}
		return tx.SetCursor("webhook", seqs[1])
	})
	prune(t, b, s, now, 0, "behind a cursor at 0")
	update(t, s, func(tx store.Tx) error { return tx.DeleteCursor("slack") })
	prune(t, b, s, now, 2, "after deleting the cursor at 0")
	if got := seqsAfter(t, s, 0); len(got) != 0 {
		t.Errorf("left %v", got)
	}
}

// testPruneHistory: audit records and fact history entries older than the
// retention go, newer ones stay, for every host, whatever the cursors; a
// host's entries stay in time order.
func testPruneHistory(t *testing.T, b Backend) {
	s := b.Open(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	k := fact.Key{Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, ID: "net.ipv4.ip_forward"}
	old := &plumbv1.Fact{Kind: k.Kind, Key: []byte(k.ID), Digest: []byte("d")}
	hosts := []string{"a", "ab", "b"}
	ago := func(m int) time.Time { return now.Add(-time.Duration(m) * Retention) }
	update(t, s, func(tx store.Tx) error {
		for _, host := range hosts {
			for m := 3; m >= 0; m-- {
				if err := tx.PutFactChange(host, ago(m).UnixNano(), k, old); err != nil {
					return err
				}
			}
		}
		for m := 3; m >= 0; m-- {
			for _, host := range hosts {
				if err := store.Audit(tx, ago(m), "alice", "silence.create", host, "s1", "why"); err != nil {
					return err
				}
			}
		}
		// A cursor at 0 holds back events, not history.
		return tx.SetCursor("slow", 0)
	})
	// 3 hosts × (3 history + 3 audit) are older than the retention.
	prune(t, b, s, now.Add(time.Minute), 18, "history and audit")
	view(t, s, func(tx store.ReadTx) error {
		for _, host := range hosts {
			var ats []int64
			if err := tx.FactChanges(host, 0, func(c *store.FactChange) error {
				ats = append(ats, c.At)
				if c.Old == nil || string(c.Old.GetDigest()) != "d" {
					t.Errorf("host %s at %d: old %v, want digest d", host, c.At, c.Old)
				}
				return nil
			}); err != nil {
				return err
			}
			if len(ats) != 1 || ats[0] != now.UnixNano() {
				t.Errorf("host %s: history at %v, want one entry at now", host, ats)
			}
		}
		recs, err := tx.AuditAfter(0, 100)
		if err != nil {
			return err
		}
		if len(recs) != 3 {
			t.Errorf("%d audit records left, want 3", len(recs))
		}
		for _, r := range recs {
			if r.At != now.UnixNano() || r.Actor != "alice" {
				t.Errorf("audit record left: %+v", r)
			}
		}
		return nil
	})
	// The audit log's numbering goes on past what was pruned, even when
	// pruning empties it.
	var lastSeq uint64
	view(t, s, func(tx store.ReadTx) error {
		recs, err := tx.AuditAfter(0, 100)
		if len(recs) > 0 {
			lastSeq = recs[len(recs)-1].Seq
		}
		return err
	})
	prune(t, b, s, now.Add(2*Retention), 3+3, "the rest")
	var next *store.AuditRecord
	update(t, s, func(tx store.Tx) error {
		next = &store.AuditRecord{At: now.UnixNano(), Actor: "bob", Action: "policy.apply"}
		return tx.AppendAudit(next)
	})
	if next.Seq <= lastSeq {
		t.Errorf("an audit record appended after pruning got seq %d, not above the pruned %d", next.Seq, lastSeq)
	}
}
