package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

func appendEvents(t *testing.T, s *Bolt, at ...time.Time) {
	t.Helper()
	err := s.Update(context.Background(), func(tx Tx) error {
		for _, a := range at {
			ev := &plumbv1.DriftEvent{Id: fmt.Sprint(a.UnixNano()), AtUnixNano: a.UnixNano()}
			if err := tx.AppendEvent(ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func eventSeqs(t *testing.T, s *Bolt, after uint64, limit int) []uint64 {
	t.Helper()
	var out []uint64
	err := s.View(context.Background(), func(tx ReadTx) error {
		evs, err := tx.EventsAfter(after, limit)
		for _, ev := range evs {
			out = append(out, ev.GetSeq())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEventLog(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	err := s.View(ctx, func(tx ReadTx) error {
		if seq, _ := tx.LastEventSeq(); seq != 0 {
			t.Errorf("LastEventSeq of an empty log = %d", seq)
		}
		if c, _ := tx.Cursor("nobody"); c != 0 {
			t.Errorf("Cursor of an unknown consumer = %d", c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var assigned []uint64
	err = s.Update(ctx, func(tx Tx) error {
		for i := range 5 {
			ev := &plumbv1.DriftEvent{Id: fmt.Sprint("e", i), Type: plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED}
			if err := tx.AppendEvent(ev); err != nil {
				return err
			}
			assigned = append(assigned, ev.GetSeq())
		}
		return tx.SetCursor("webhook", 2)
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(assigned) != "[1 2 3 4 5]" {
		t.Errorf("AppendEvent assigned %v, want 1..5", assigned)
	}
	// A rolled-back append does not consume a sequence number.
	_ = s.Update(ctx, func(tx Tx) error {
		_ = tx.AppendEvent(&plumbv1.DriftEvent{Id: "lost"})
		return fmt.Errorf("abort")
	})

	if got := fmt.Sprint(eventSeqs(t, s, 2, 100)); got != "[3 4 5]" {
		t.Errorf("EventsAfter(2) = %s", got)
	}
	if got := fmt.Sprint(eventSeqs(t, s, 0, 2)); got != "[1 2]" {
		t.Errorf("EventsAfter(0, limit 2) = %s", got)
	}
	if got := eventSeqs(t, s, 5, 100); len(got) != 0 {
		t.Errorf("EventsAfter(last) = %v", got)
	}
	err = s.View(ctx, func(tx ReadTx) error {
		evs, err := tx.EventsAfter(3, 1)
		if err != nil {
			return err
		}
		if len(evs) != 1 || evs[0].GetId() != "e3" || evs[0].GetType() != plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED {
			t.Errorf("EventsAfter(3,1) = %v", evs)
		}
		if seq, _ := tx.LastEventSeq(); seq != 5 {
			t.Errorf("LastEventSeq = %d, want 5", seq)
		}
		if c, _ := tx.Cursor("webhook"); c != 2 {
			t.Errorf("Cursor = %d, want 2", c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPrune(t *testing.T) {
	path := t.TempDir() + "/plumb.db"
	s, err := Open(path, Options{EventRetention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	old := now.Add(-2 * time.Hour)
	// Seqs 1-4 are old, 5-6 recent.
	appendEvents(t, s, old, old, old, old, now.Add(-time.Minute), now)

	// No cursors: age alone decides.
	n, err := s.Prune(ctx, now)
	if err != nil || n != 4 {
		t.Fatalf("Prune without cursors = %d, %v; want 4", n, err)
	}
	if got := fmt.Sprint(eventSeqs(t, s, 0, 100)); got != "[5 6]" {
		t.Errorf("after prune: %s", got)
	}

	// A lagging consumer holds old events back.
	appendEvents(t, s, old, old, old) // seqs 7-9, out of time order on purpose
	err = s.Update(ctx, func(tx Tx) error {
		if err := tx.SetCursor("webhook", 9); err != nil {
			return err
		}
		return tx.SetCursor("slack", 4)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Prune(ctx, now.Add(2*time.Hour)); err != nil || n != 0 {
		t.Errorf("Prune behind a lagging cursor = %d, %v; want 0", n, err)
	}
	if err := s.Update(ctx, func(tx Tx) error { return tx.SetCursor("slack", 8) }); err != nil {
		t.Fatal(err)
	}
	// Seqs 5-8 are old by then and at or below both cursors; 9 is above slack.
	if n, err := s.Prune(ctx, now.Add(2*time.Hour)); err != nil || n != 4 {
		t.Errorf("Prune = %d, %v; want 4", n, err)
	}
	if got := fmt.Sprint(eventSeqs(t, s, 0, 100)); got != "[9]" {
		t.Errorf("after prune: %s", got)
	}
	err = s.View(ctx, func(tx ReadTx) error {
		if seq, _ := tx.LastEventSeq(); seq != 9 {
			t.Errorf("LastEventSeq after pruning = %d, want 9", seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Sequence numbers keep growing after pruning and reopening.
	_ = s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, s, now)
	if got := fmt.Sprint(eventSeqs(t, s, 0, 100)); got != "[9 10]" {
		t.Errorf("after reopen and append: %s", got)
	}
}

func TestPruneBatches(t *testing.T) {
	s, _ := openTemp(t)
	now := time.Now()
	at := make([]time.Time, pruneBatch+10)
	for i := range at {
		at[i] = now.Add(-60 * 24 * time.Hour)
	}
	appendEvents(t, s, at...)
	appendEvents(t, s, now)
	n, err := s.Prune(context.Background(), now)
	if err != nil || n != len(at) {
		t.Fatalf("Prune = %d, %v; want %d", n, err, len(at))
	}
	if got := eventSeqs(t, s, 0, 100); len(got) != 1 {
		t.Errorf("left %v, want one event", got)
	}
}

// Cursors lists what SetCursor wrote; a deleted cursor no longer holds back
// pruning.
func TestCursorsAndDeleteCursor(t *testing.T) {
	s, err := Open(t.TempDir()+"/plumb.db", Options{EventRetention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	appendEvents(t, s, now.Add(-2*time.Hour), now.Add(-2*time.Hour))
	err = s.Update(ctx, func(tx Tx) error {
		if err := tx.SetCursor("slack", 0); err != nil {
			return err
		}
		return tx.SetCursor("webhook", 2)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Prune(ctx, now); err != nil || n != 0 {
		t.Fatalf("Prune behind cursor slack = %d, %v; want 0", n, err)
	}
	list := func() string {
		var out []string
		err := s.View(ctx, func(tx ReadTx) error {
			return tx.Cursors(func(name string, seq uint64) error {
				out = append(out, fmt.Sprint(name, "=", seq))
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(out)
	}
	if got := list(); got != "[slack=0 webhook=2]" {
		t.Errorf("Cursors = %s", got)
	}
	err = s.Update(ctx, func(tx Tx) error {
		if err := tx.DeleteCursor("slack"); err != nil {
			return err
		}
		return tx.DeleteCursor("never-set")
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := list(); got != "[webhook=2]" {
		t.Errorf("Cursors after delete = %s", got)
	}
	if n, err := s.Prune(ctx, now); err != nil || n != 2 {
		t.Fatalf("Prune after deleting cursor slack = %d, %v; want 2", n, err)
	}
}
