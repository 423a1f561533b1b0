package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// txTests: Update is all or nothing, View a consistent snapshot.
var txTests = []test{
	{"UpdateRollsBackOnError", testRollback},
	{"CanceledContext", testCanceledContext},
	{"CanceledDuringUpdate", testCanceledDuringUpdate},
	{"ReadsOwnWrites", testReadsOwnWrites},
	{"ValuesOwnedByCaller", testValuesOwned},
	{"ViewIsASnapshot", testViewSnapshot},
	{"SecondHandleSeesCommits", testSecondHandle},
}

// fill writes one of everything, changing what an earlier fill wrote when
// round is above 0.
func fill(tx store.Tx, round int) error {
	v := fmt.Sprint(round)
	h := &store.Host{ID: "h", AppliedSeq: uint64(10 + round), Labels: map[string]string{"r": v}, HasBaseline: true}
	h.Digest.Add(fact.KeyOf(sysctl("a", v)), sysctl("a", v).GetDigest())
	k := fact.KeyOf(sysctl("a", v))
	for _, err := range []error{
		tx.PutHost(h),
		tx.PutHost(&store.Host{ID: "web-1", AppliedSeq: uint64(round)}),
		tx.PutFact("h", sysctl("a", v)),
		tx.PutFact("h", fileFact("/etc/"+v, v)),
		tx.PutFact("h2", sysctl("b", v)),
		tx.PutBaseline("h", sysctl("a", "base"+v)),
		tx.PutDrift(driftItem("h", "a"+v, plumbv1.DriftStatus_DRIFT_STATUS_OPEN)),
		tx.AppendEvent(&plumbv1.DriftEvent{Id: "ev" + v, Item: driftItem("h", "a"+v, plumbv1.DriftStatus_DRIFT_STATUS_OPEN), AtUnixNano: int64(round)}),
		tx.SetCursor("webhook", uint64(round)),
		tx.PutJoinToken(&store.JoinToken{ID: "jt" + v, UsesLeft: uint32(round)}),
		tx.PutAPIToken(&store.APIToken{ID: "at", Name: v}),
		tx.PutIdentity(&store.Identity{HostID: "h", KeyPin: "sha256:" + v}),
		tx.PutSilence(&store.Silence{ID: "s", Reason: v}),
		tx.PutGroupBaseline(&store.GroupBaseline{Group: "g", Generation: uint64(round)}),
		tx.PutGroupBaselineFact("g", sysctl("a", v)),
		tx.PutGroupException(&store.GroupException{Group: "g", Host: "h", Key: k, Reason: v}),
		tx.AppendAudit(&store.AuditRecord{At: int64(round), Actor: "a", Action: "x.y", Target: v}),
		tx.PutFactChange("h", int64(round), k, sysctl("a", "old"+v)),
		tx.PutPolicy(&store.Policy{Version: uint64(round + 1), YAML: v}),
		tx.PutSecret("digest.key", []byte("key"+v)),
	} {
		if err != nil {
			return err
		}
	}
	_, err := tx.ClaimLease("l", "c"+v, int64(round)*100, int64(round)*100+10)
	return err
}

// unfill deletes what fill(round) wrote, where the store can delete.
func unfill(tx store.Tx, round int) error {
	v := fmt.Sprint(round)
	k := fact.KeyOf(sysctl("a", v))
	for _, err := range []error{
		tx.DeleteFact("h", k),
		tx.DeleteBaseline("h", k),
		tx.DeleteDrift("h", fact.KeyOf(sysctl("a"+v, ""))),
		tx.DeleteCursor("webhook"),
		tx.DeleteJoinToken("jt" + v),
		tx.DeleteAPIToken("at"),
		tx.DeleteSilence("s"),
		tx.DeleteGroupBaselineFact("g", k),
		tx.DeleteGroupException("g", "h", k),
		tx.ReleaseLease("l", "c"+v),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// testRollback: an Update whose fn fails writes nothing (neither puts nor
// deletes, nor event and audit appends, leases or secrets) and returns
// fn's error; the next Update works.
func testRollback(t *testing.T, b Backend) {
	s := b.Open(t)
	update(t, s, func(tx store.Tx) error { return fill(tx, 1) })
	var before string
	view(t, s, func(tx store.ReadTx) error { before = dump(t, tx); return nil })
	boom := errors.New("boom")
	for name, fn := range map[string]func(store.Tx) error{
		"writes":  func(tx store.Tx) error { return fill(tx, 2) },
		"deletes": func(tx store.Tx) error { return unfill(tx, 1) },
		"both": func(tx store.Tx) error {
			if err := unfill(tx, 1); err != nil {
				return err
			}
			return fill(tx, 3)
		},
	} {
		err := s.Update(t.Context(), func(tx store.Tx) error {
			if err := fn(tx); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return fmt.Errorf("after %s: %w", name, boom)
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update whose fn failed after %s returned %v, want fn's error", name, err)
		}
		var after string
		view(t, s, func(tx store.ReadTx) error { after = dump(t, tx); return nil })
		if d := cmp.Diff(before, after); d != "" {
			t.Errorf("a failed Update (%s) changed the store (-before +after):\n%s", name, d)
		}
	}
	// The store still takes writes, and an event appended after the
	// rolled-back ones comes after every committed event.
	update(t, s, func(tx store.Tx) error { return fill(tx, 4) })
	view(t, s, func(tx store.ReadTx) error {
		evs, err := tx.EventsAfter(0, 10)
		if err != nil {
			return err
		}
		if len(evs) != 2 || evs[0].GetId() != "ev1" || evs[1].GetId() != "ev4" || evs[1].GetSeq() <= evs[0].GetSeq() {
			t.Errorf("events after a rollback: %v, want ev1 then ev4", evs)
		}
		if last, err := tx.LastEventSeq(); err != nil || last < evs[len(evs)-1].GetSeq() {
			t.Errorf("LastEventSeq = %d, %v; want at least %d", last, err, evs[len(evs)-1].GetSeq())
		}
		return nil
	})
}

func testCanceledContext(t *testing.T, b Backend) {
	s := b.Open(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	if err := s.Update(ctx, func(store.Tx) error { called = true; return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Update = %v, want context.Canceled", err)
	}
	if err := s.View(ctx, func(store.ReadTx) error { called = true; return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("View = %v, want context.Canceled", err)
	}
	if called {
		t.Error("fn ran with a canceled context")
	}
	// A canceled context of one call leaves the store usable.
	update(t, s, func(tx store.Tx) error { return fill(tx, 1) })
}

// testCanceledDuringUpdate: a context canceled while fn runs may or may
// not stop the commit (bbolt commits, a SQL backend rolls back), but Update
// returns nil exactly when the writes are there.
func testCanceledDuringUpdate(t *testing.T, b Backend) {
	s := b.Open(t)
	for i := range 3 {
		ctx, cancel := context.WithCancel(t.Context())
		err := s.Update(ctx, func(tx store.Tx) error {
			if err := fill(tx, i+1); err != nil {
				return err
			}
			cancel()
			if i == 2 {
				time.Sleep(10 * time.Millisecond) // let a watcher of ctx act
			}
			return nil
		})
		cancel()
		var got *store.Host
		view(t, s, func(tx store.ReadTx) error {
			var err error
			got, err = tx.Host("h")
			if errors.Is(err, store.ErrNotFound) {
				got, err = nil, nil
			}
			return err
		})
		committed := got != nil && got.AppliedSeq == uint64(10+i+1)
		if (err == nil) != committed {
			t.Errorf("Update canceled during fn returned %v, yet its writes are there: %v", err, committed)
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Update canceled during fn failed with %v, not context.Canceled", err)
		}
	}
}

// testReadsOwnWrites: inside an Update, reads see the transaction's own
// writes and deletes before it commits.
func testReadsOwnWrites(t *testing.T, b Backend) {
	s := b.Open(t)
	update(t, s, func(tx store.Tx) error {
		if err := fill(tx, 1); err != nil {
			return err
		}
		in := dump(t, tx)
		for _, want := range []string{`host "h" seq=11`, `fact "h"`, "event ", `cursor "webhook" 1`, "lease {Name:l Holder:c1", `secret "digest.key"`, "audit ", "policy "} {
			if !strings.Contains(in, want) {
				t.Errorf("inside the Update that wrote it, %q is not seen; the transaction sees:\n%s", want, in)
			}
		}
		if err := unfill(tx, 1); err != nil {
			return err
		}
		if _, err := tx.Fact("h", fact.KeyOf(sysctl("a", "1"))); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a fact deleted in this transaction: %v, want ErrNotFound", err)
		}
		if l, err := tx.Lease("l"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a lease released in this transaction: %+v, %v; want ErrNotFound", l, err)
		}
		return nil
	})
}

// testValuesOwned: changing what a read returned, or what was passed to a
// put, changes nothing stored.
func testValuesOwned(t *testing.T, b Backend) {
	s := b.Open(t)
	update(t, s, func(tx store.Tx) error { return fill(tx, 1) })
	var before string
	view(t, s, func(tx store.ReadTx) error {
		before = dump(t, tx)
		h, err := tx.Host("h")
		if err != nil {
			return err
		}
		h.AppliedSeq, h.Labels["r"] = 99, "changed"
		f, err := tx.Fact("h", fact.KeyOf(sysctl("a", "1")))
		if err != nil {
			return err
		}
		f.Key[0] = 'z'
		sec, err := tx.Secret("digest.key")
		if err != nil {
			return err
		}
		sec[0] = 'X'
		if after := dump(t, tx); after != before {
			t.Errorf("changing returned values changed what the same View reads (-before +after):\n%s", cmp.Diff(before, after))
		}
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		if after := dump(t, tx); after != before {
			t.Errorf("changing returned values changed the store (-before +after):\n%s", cmp.Diff(before, after))
		}
		return nil
	})
}

// testViewSnapshot: a View that is open while an Update commits (through
// another handle when the backend allows one) keeps reading the state from
// its start, every read of it; the next View sees the commit.
func testViewSnapshot(t *testing.T, b Backend) {
	s := b.Open(t)
	hs := handles(t, b, s)
	writer := hs[len(hs)-1]
	update(t, s, func(tx store.Tx) error { return fill(tx, 1) })
	warmUp(t, s)
	var before, during, after string
	wrote := make(chan error, 1)
	view(t, s, func(tx store.ReadTx) error {
		before = dump(t, tx)
		go func() {
			wrote <- writer.Update(context.Background(), func(tx store.Tx) error {
				if err := unfill(tx, 1); err != nil {
					return err
				}
				return fill(tx, 2)
			})
		}()
		select {
		case err := <-wrote:
			if err != nil {
				t.Errorf("Update while a View is open: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("an Update did not commit within 30s while a View was open")
		}
		during = dump(t, tx)
		return nil
	})
	if d := cmp.Diff(before, during); d != "" {
		t.Errorf("a View saw an Update that committed after it started (-start +later in the same View):\n%s", d)
	}
	view(t, s, func(tx store.ReadTx) error { after = dump(t, tx); return nil })
	if after == before {
		t.Error("the View after the Update does not see it")
	}
	var want string
	update(t, s, func(tx store.Tx) error { want = dump(t, tx); return nil })
	if after != want {
		t.Errorf("a View and an Update after it see different states (-view +update):\n%s", cmp.Diff(after, want))
	}
}

// warmUp writes and deletes a few hundred KiB, so that an embedded backend
// has grown its file and has free pages: the small writes of a test then
// need not grow it while a reader holds it (bbolt's remap waits for every
// reader to finish, which is not what testViewSnapshot is about).
func warmUp(t *testing.T, s store.Store) {
	t.Helper()
	pad := strings.Repeat("x", 1024)
	update(t, s, func(tx store.Tx) error {
		for i := range 300 {
			if err := tx.PutFact("warm", fileFact(fmt.Sprint("/warm/", i), pad)); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		for i := range 300 {
			if err := tx.DeleteFact("warm", fact.KeyOf(fileFact(fmt.Sprint("/warm/", i), ""))); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, s, func(store.Tx) error { return nil })
	update(t, s, func(store.Tx) error { return nil })
}

// testSecondHandle: what one handle commits, another on the same database
// reads, both ways.
func testSecondHandle(t *testing.T, b Backend) {
	s := b.Open(t)
	hs := handles(t, b, s)
	for i, h := range hs {
		update(t, h, func(tx store.Tx) error { return fill(tx, i+1) })
		var want string
		view(t, h, func(tx store.ReadTx) error { want = dump(t, tx); return nil })
		for j, other := range hs {
			view(t, other, func(tx store.ReadTx) error {
				if got := dump(t, tx); got != want {
					t.Errorf("handle %d reads other than handle %d committed (-committed +read):\n%s", j, i, cmp.Diff(want, got))
				}
				return nil
			})
		}
	}
}
