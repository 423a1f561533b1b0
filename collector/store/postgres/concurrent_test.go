package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/collector/store/pgtest"
)

func newLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func checkRow(t *testing.T, dsn, sql string, dest ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql).Scan(dest...); err != nil {
		t.Fatal(err)
	}
}

// TestAppliedSeqCompareAndSet: workers on two pools (two collectors)
// race to apply the same deltas of one host, each checking AppliedSeq
// inside its Update as the ingest committer does. Every delta must be
// applied exactly once, in order.
func TestAppliedSeqCompareAndSet(t *testing.T) {
	c := pgtest.Start(t)
	dsn := c.NewDatabase(t)
	stores := []store.Store{open(t, dsn), open(t, dsn)}
	ctx := context.Background()
	const deltas = 60
	if err := stores[0].Update(ctx, func(tx store.Tx) error { return tx.PutHost(&store.Host{ID: "h"}) }); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%2]
			for seq := uint64(1); seq <= deltas; seq++ {
				err := s.Update(ctx, func(tx store.Tx) error {
					h, err := tx.Host("h")
					if err != nil {
						return err
					}
					if h.AppliedSeq >= seq {
						return nil // applied by another: a stale write loses
					}
					if h.AppliedSeq != seq-1 {
						return fmt.Errorf("host at %d, delta %d: a gap", h.AppliedSeq, seq)
					}
					time.Sleep(time.Millisecond) // widen the window
					if err := tx.AppendEvent(&plumbv1.DriftEvent{Id: fmt.Sprint(seq)}); err != nil {
						return err
					}
					h.AppliedSeq = seq
					return tx.PutHost(h)
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	err := stores[1].View(ctx, func(tx store.ReadTx) error {
		h, err := tx.Host("h")
		if err != nil {
			return err
		}
		if h.AppliedSeq != deltas {
			t.Errorf("AppliedSeq = %d, want %d", h.AppliedSeq, deltas)
		}
		evs, err := tx.EventsAfter(0, 10*deltas)
		if err != nil {
			return err
		}
		if len(evs) != deltas {
			t.Errorf("%d events, want %d (one per delta)", len(evs), deltas)
		}
		for i, ev := range evs {
			if ev.GetId() != fmt.Sprint(i+1) || ev.GetSeq() != uint64(i+1) {
				t.Errorf("event %d is delta %s seq %d", i+1, ev.GetId(), ev.GetSeq())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEventLogGapFreeForTailingReader: writers on two pools append
// events in slow transactions of random length while a reader tails the
// log with a cursor, as a notifier does. The reader must see every event
// exactly once: an event that commits late must never fall behind its
// cursor.
func TestEventLogGapFreeForTailingReader(t *testing.T) {
	c := pgtest.Start(t)
	dsn := c.NewDatabase(t)
	stores := []store.Store{open(t, dsn), open(t, dsn)}
	reader := open(t, dsn)
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	const writers, perWriter = 6, 25
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for i := 0; i < perWriter; i++ {
				pause := time.Duration(rng.IntN(8)) * time.Millisecond
				err := stores[w%2].Update(ctx, func(tx store.Tx) error {
					if err := tx.AppendEvent(&plumbv1.DriftEvent{Id: fmt.Sprintf("%d-%d", w, i)}); err != nil {
						return err
					}
					time.Sleep(pause) // commit late
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[uint64]int{}
	var cursor uint64
	finished := false
	deadline := time.Now().Add(5 * time.Minute)
	for !finished || cursor < writers*perWriter {
		if time.Now().After(deadline) {
			t.Fatalf("seed %d: reader stuck at %d", seed, cursor)
		}
		select {
		case <-done:
			finished = true
		default:
		}
		err := reader.View(ctx, func(tx store.ReadTx) error {
			evs, err := tx.EventsAfter(cursor, 7)
			for _, ev := range evs {
				seen[ev.GetSeq()]++
				cursor = ev.GetSeq()
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if finished && cursor >= writers*perWriter {
			break
		}
	}
	for seq := uint64(1); seq <= writers*perWriter; seq++ {
		if seen[seq] != 1 {
			t.Errorf("seed %d: the tailing reader saw event %d %d times", seed, seq, seen[seq])
		}
	}
}

// TestDatabaseRestart: while the database is down Updates fail (so the
// ingest path does not ack) and the pool recovers when it returns.
func TestDatabaseRestart(t *testing.T) {
	c := pgtest.Start(t)
	dsn := c.NewDatabase(t)
	s := open(t, dsn)
	ctx := context.Background()
	put := func(seq uint64) error {
		return s.Update(ctx, func(tx store.Tx) error { return tx.PutHost(&store.Host{ID: "h", AppliedSeq: seq}) })
	}
	if err := put(1); err != nil {
		t.Fatal(err)
	}
	c.Stop(t)
	if err := put(2); err == nil {
		t.Fatal("Update succeeded with the database stopped")
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping succeeded with the database stopped")
	}
	c.Restart(t)
	deadline := time.Now().Add(time.Minute)
	for {
		err := put(3)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Update still failing a minute after the restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	err := s.View(ctx, func(tx store.ReadTx) error {
		h, err := tx.Host("h")
		if err == nil && h.AppliedSeq != 3 {
			err = fmt.Errorf("AppliedSeq %d, want 3", h.AppliedSeq)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHostileRows: damaged rows are errors, never panics.
func TestHostileRows(t *testing.T) {
	c := pgtest.Start(t)
	dsn := c.NewDatabase(t)
	s := open(t, dsn)
	ctx := context.Background()
	f := mkFact(plumbv1.FactKind_FACT_KIND_SYSCTL, "a", "1")
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.PutHost(&store.Host{ID: "h"}); err != nil {
			return err
		}
		if err := tx.AppendEvent(&plumbv1.DriftEvent{Id: "e"}); err != nil {
			return err
		}
		return tx.PutFact("h", f)
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Exec(t, dsn, `UPDATE plumb_hosts SET digest = '\x0102'`)
	c.Exec(t, dsn, `UPDATE plumb_facts SET v = '\xffff', k = ''`)
	c.Exec(t, dsn, `UPDATE plumb_events SET v = '\xff'`)
	c.Exec(t, dsn, `UPDATE plumb_writer SET event_seq = -5`)
	_ = s.View(ctx, func(tx store.ReadTx) error {
		if _, err := tx.Host("h"); err == nil {
			t.Error("a damaged digest decoded")
		}
		if err := tx.Facts("h", 0, func(*plumbv1.Fact) error { return nil }); err == nil {
			t.Error("a damaged fact decoded")
		}
		if _, err := tx.EventsAfter(0, 10); err == nil {
			t.Error("a damaged event decoded")
		}
		if _, err := tx.LastEventSeq(); err == nil {
			t.Error("a negative event counter was accepted")
		}
		return nil
	})
	if err := s.Update(ctx, func(tx store.Tx) error { return nil }); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Update with a negative counter = %v, want an error", err)
	}
}
