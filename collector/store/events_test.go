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

// TestEventSeqSurvivesPruneAndReopen: the file keeps the log's position
// when pruning emptied the log, so numbering goes on after a restart (the
// conformance suite checks the same without the restart).
func TestEventSeqSurvivesPruneAndReopen(t *testing.T) {
	path := t.TempDir() + "/plumb.db"
	s, err := Open(path, Options{EventRetention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	appendEvents(t, s, now.Add(-2*time.Hour), now.Add(-2*time.Hour), now.Add(-2*time.Hour))
	if n, err := s.Prune(context.Background(), now); err != nil || n != 3 {
		t.Fatalf("Prune = %d, %v; want 3", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendEvents(t, s, now)
	if got := fmt.Sprint(eventSeqs(t, s, 0, 100)); got != "[4]" {
		t.Errorf("after prune, reopen and append: %s, want [4]", got)
	}
}
