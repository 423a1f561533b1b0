package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// eventTests: the drift event log is the notifiers' outbox. Seqs are
// strictly increasing in commit order (not necessarily without holes: a
// backend may spend numbers on rolled-back appends), and a reader that
// tails it by seq never skips an event committed late.
var eventTests = []test{
	{"EventLogOrderAndLimit", testEventLog},
	{"Cursors", testCursors},
	{"EventLogGapFreeForTailingReader", testGapFreeTail},
}

// eventOf is an event of host numbered n, with an item to round-trip.
func eventOf(host string, n int) *plumbv1.DriftEvent {
	return &plumbv1.DriftEvent{
		Id: fmt.Sprintf("%s/%d", host, n), Type: plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED,
		Item:       driftItem(host, fmt.Sprint("k", n), plumbv1.DriftStatus_DRIFT_STATUS_OPEN),
		AtUnixNano: int64(n), HostOpenDrift: uint32(n),
	}
}

// checkIncreasing reports seqs that are zero or not strictly increasing.
func checkIncreasing(t *testing.T, evs []*plumbv1.DriftEvent) {
	t.Helper()
	var prev uint64
	for i, ev := range evs {
		if ev.GetSeq() == 0 || ev.GetSeq() <= prev {
			t.Errorf("event %d (%s) has seq %d after seq %d", i, ev.GetId(), ev.GetSeq(), prev)
		}
		prev = ev.GetSeq()
	}
}

func testEventLog(t *testing.T, b Backend) {
	s := b.Open(t)
	var appended []*plumbv1.DriftEvent
	for round := range 3 {
		update(t, s, func(tx store.Tx) error {
			appended = appended[:round*4]
			for i := range 4 {
				ev := eventOf("h", round*4+i)
				if err := tx.AppendEvent(ev); err != nil {
					return err
				}
				appended = append(appended, ev)
			}
			return nil
		})
	}
	checkIncreasing(t, appended)
	seq := func(i int) uint64 { return appended[i].GetSeq() }
	view(t, s, func(tx store.ReadTx) error {
		all, err := tx.EventsAfter(0, 100)
		if err != nil {
			return err
		}
		// Every field round-trips, Seq included.
		if d := cmp.Diff(appended, all, protocmp.Transform()); d != "" {
			t.Errorf("EventsAfter(0) (-appended +read):\n%s", d)
		}
		if last, err := tx.LastEventSeq(); err != nil || last != seq(11) {
			t.Errorf("LastEventSeq = %d, %v; want %d", last, err, seq(11))
		}
		for _, c := range []struct {
			after uint64
			limit int
			from  int // index of the first event wanted
			n     int
		}{
			{0, 1, 0, 1},
			{0, 12, 0, 12},
			{seq(2), 3, 3, 3},
			{seq(2), 100, 3, 9},
			{seq(3) - 1, 2, 3, 2}, // between seqs, or at the one before
			{seq(11) - 1, 5, 11, 1},
			{seq(11), 5, 0, 0},
			{seq(11) + 1000, 5, 0, 0},
			{^uint64(0), 5, 0, 0},
			{0, 0, 0, 0},
			{0, -1, 0, 0},
		} {
			evs, err := tx.EventsAfter(c.after, c.limit)
			if err != nil {
				return err
			}
			var want []string
			for i := c.from; i < c.from+c.n; i++ {
				want = append(want, appended[i].GetId())
			}
			var got []string
			for _, ev := range evs {
				got = append(got, ev.GetId())
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("EventsAfter(%d, %d) (-want +got):\n%s", c.after, c.limit, d)
			}
		}
		return nil
	})
}

func testCursors(t *testing.T, b Backend) {
	s := b.Open(t)
	update(t, s, func(tx store.Tx) error {
		for _, err := range []error{
			tx.SetCursor("webhook", 5), tx.SetCursor("slack", 0), tx.SetCursor("max", ^uint64(0)),
			tx.SetCursor("webhook", 7),                       // moves it
			tx.SetCursor("back", 9), tx.SetCursor("back", 3), // cursors may move back
		} {
			if err != nil {
				return err
			}
		}
		return nil
	})
	list := func() string {
		var out []string
		view(t, s, func(tx store.ReadTx) error {
			out = nil
			return tx.Cursors(func(name string, seq uint64) error {
				out = append(out, fmt.Sprint(name, "=", seq))
				return nil
			})
		})
		return fmt.Sprint(out)
	}
	if got := list(); got != fmt.Sprintf("[back=3 max=%d slack=0 webhook=7]", ^uint64(0)) {
		t.Errorf("Cursors = %s", got)
	}
	view(t, s, func(tx store.ReadTx) error {
		for name, want := range map[string]uint64{"webhook": 7, "slack": 0, "max": ^uint64(0), "back": 3, "never": 0} {
			if got, err := tx.Cursor(name); err != nil || got != want {
				t.Errorf("Cursor(%s) = %d, %v; want %d", name, got, err, want)
			}
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.DeleteCursor("slack"); err != nil {
			return err
		}
		return tx.DeleteCursor("never-set")
	})
	if got := list(); got != fmt.Sprintf("[back=3 max=%d webhook=7]", ^uint64(0)) {
		t.Errorf("Cursors after delete = %s", got)
	}
	if err := s.Update(t.Context(), func(tx store.Tx) error { return tx.SetCursor("", 1) }); err == nil {
		t.Error("SetCursor with an empty name succeeded")
	}
}

// tailView is what one View of the tailing reader saw.
type tailView struct {
	cursor uint64 // events after this were asked for
	limit  int
	last   uint64 // LastEventSeq in the same View
	ids    []string
	seqs   []uint64
}

// testGapFreeTail: writers append events in Updates that sometimes stay
// open a while before they commit (or fail), on one handle or two, while a
// reader tails the log as a notifier does: EventsAfter(cursor) in a View,
// then the cursor moves to the last seq seen. The reader must see every
// event of the final log exactly once, in order. Numbering events when
// they are appended and letting transactions commit in another order (a
// SQL sequence) fails this: the reader passes a seq whose event is not
// committed yet. Also, in each View, LastEventSeq must cover what the View
// sees and nothing may commit later at or below it, since a new notifier
// starts its cursor there.
func testGapFreeTail(t *testing.T, b Backend) {
	rng := seeded(t)
	s := b.Open(t)
	hs := handles(t, b, s)
	const writers, updates = 4, 12
	type plan struct {
		events     int
		pauseFirst time.Duration // inside fn, before appending
		pauseAfter time.Duration // inside fn, after appending, before commit
		fail       bool
	}
	plans := make([][]plan, writers)
	for w := range plans {
		for range updates {
			p := plan{events: 1 + rng.IntN(3), fail: rng.IntN(8) == 0}
			if rng.IntN(3) == 0 {
				p.pauseAfter = time.Duration(1+rng.IntN(15)) * time.Millisecond
			}
			if rng.IntN(4) == 0 {
				p.pauseFirst = time.Duration(rng.IntN(5)) * time.Millisecond
			}
			plans[w] = append(plans[w], p)
		}
	}
	limits := make([]int, 4096)
	for i := range limits {
		limits[i] = 1 + rng.IntN(8)
	}

	var done atomic.Bool
	var wg sync.WaitGroup
	committed := make([][]string, writers)
	errs := make(chan error, writers+1)
	boom := errors.New("planned failure")
	for w := range writers {
		wg.Go(func() {
			h := hs[w%len(hs)]
			for u, p := range plans[w] {
				var ids []string
				err := h.Update(context.Background(), func(tx store.Tx) error {
					ids = nil
					time.Sleep(p.pauseFirst)
					for e := range p.events {
						ev := eventOf(fmt.Sprintf("w%d", w), u*10+e)
						if err := tx.AppendEvent(ev); err != nil {
							return err
						}
						ids = append(ids, ev.GetId())
					}
					time.Sleep(p.pauseAfter)
					if p.fail {
						return boom
					}
					return nil
				})
				switch {
				case p.fail && errors.Is(err, boom):
				case err != nil:
					errs <- fmt.Errorf("writer %d update %d: %w", w, u, err)
					return
				default:
					committed[w] = append(committed[w], ids...)
				}
			}
		})
	}
	var views []tailView
	reader := hs[len(hs)-1]
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		var cursor, lastSeen uint64
		for i := 0; ; i++ {
			finished := done.Load() // read before the View: nothing commits after it
			v := tailView{cursor: cursor, limit: limits[i%len(limits)]}
			err := reader.View(context.Background(), func(tx store.ReadTx) error {
				var err error
				if v.last, err = tx.LastEventSeq(); err != nil {
					return err
				}
				evs, err := tx.EventsAfter(cursor, v.limit)
				if err != nil {
					return err
				}
				v.ids, v.seqs = nil, nil
				for _, ev := range evs {
					v.ids = append(v.ids, ev.GetId())
					v.seqs = append(v.seqs, ev.GetSeq())
				}
				return nil
			})
			if err != nil {
				errs <- fmt.Errorf("reader: %w", err)
				return
			}
			if v.last < lastSeen {
				errs <- fmt.Errorf("reader: LastEventSeq went back from %d to %d", lastSeen, v.last)
				return
			}
			lastSeen = v.last
			views = append(views, v)
			if n := len(v.seqs); n > 0 {
				cursor = v.seqs[n-1]
			} else if finished {
				return
			} else {
				time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
			}
		}
	}()
	wg.Wait()
	done.Store(true)
	select {
	case <-readerDone:
	case <-time.After(2 * time.Minute):
		t.Fatal("the reader did not reach the end of the log within 2 minutes")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	var final []*plumbv1.DriftEvent
	view(t, s, func(tx store.ReadTx) error {
		var err error
		final, err = tx.EventsAfter(0, 1<<20)
		return err
	})
	checkIncreasing(t, final)
	want := map[string]bool{}
	for _, ids := range committed {
		for _, id := range ids {
			want[id] = true
		}
	}
	var finalIDs []string
	for _, ev := range final {
		finalIDs = append(finalIDs, ev.GetId())
		if !want[ev.GetId()] {
			t.Errorf("event %s is in the log, but its Update failed (or it is there twice)", ev.GetId())
		}
		delete(want, ev.GetId())
	}
	for id := range want {
		t.Errorf("event %s was committed but is not in the log", id)
	}
	var seen []string
	for _, v := range views {
		seen = append(seen, v.ids...)
	}
	if d := cmp.Diff(finalIDs, seen); d != "" {
		t.Errorf("the tailing reader did not see the final log exactly once, in order (-final log +seen):\n%s", d)
	}
	// Each View saw exactly the final log's events from its cursor up to
	// the end of its page, or up to its LastEventSeq when the page was
	// not full: nothing committed later at or below those.
	for i, v := range views {
		if n := len(v.seqs); n > 0 && v.seqs[n-1] > v.last {
			t.Errorf("view %d: LastEventSeq %d is below a seq it returned, %d", i, v.last, v.seqs[n-1])
		}
		bound := v.last
		if len(v.seqs) == v.limit {
			bound = v.seqs[len(v.seqs)-1]
		}
		var wantIDs []string
		for _, ev := range final {
			if ev.GetSeq() > v.cursor && ev.GetSeq() <= bound {
				wantIDs = append(wantIDs, ev.GetId())
			}
		}
		if d := cmp.Diff(wantIDs, v.ids); d != "" {
			t.Errorf("view %d (after %d, limit %d, LastEventSeq %d): an event at or below what it saw committed later (-final log +seen then):\n%s",
				i, v.cursor, v.limit, v.last, d)
		}
	}
	t.Logf("%d events from %d writers on %d handles, read in %d views", len(final), writers, len(hs), len(views))
}
