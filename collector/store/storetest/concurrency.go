package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/collector/store"
)

// concurrencyTests: Updates running at once, on one handle or on two
// handles of one database (two collectors), behave as if one ran after the
// other.
var concurrencyTests = []test{
	{"ConcurrentReadModifyWrite", testConcurrentRMW},
	{"ConcurrentWritersDisjoint", testConcurrentDisjoint},
	{"UpdatesAtomicToConcurrentViews", testAtomicToViews},
}

// testConcurrentRMW: goroutines each add one to a host's AppliedSeq many
// times, reading it and writing it back in one Update, some of them
// pausing between the read and the write: no increment is lost (the
// compare-and-set the collector's per-host ordering rests on). Update must
// not fail for the conflict: a backend that detects one retries fn itself.
func testConcurrentRMW(t *testing.T, b Backend) {
	rng := seeded(t)
	s := b.Open(t)
	hs := handles(t, b, s)
	update(t, s, func(tx store.Tx) error {
		return tx.PutHost(&store.Host{ID: "h", Labels: map[string]string{"keep": "me"}})
	})
	const workers, rounds = 6, 12
	pauses := make([][]time.Duration, workers)
	for w := range pauses {
		for range rounds {
			var d time.Duration
			if rng.IntN(3) == 0 {
				d = time.Duration(rng.IntN(3000)) * time.Microsecond
			}
			pauses[w] = append(pauses[w], d)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			h := hs[w%len(hs)]
			for r := range rounds {
				err := h.Update(context.Background(), func(tx store.Tx) error {
					host, err := tx.Host("h")
					if err != nil {
						return err
					}
					time.Sleep(pauses[w][r])
					host.AppliedSeq++
					host.LastSeen = int64(w)
					return tx.PutHost(host)
				})
				if err != nil {
					errs <- fmt.Errorf("worker %d round %d: %w", w, r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, h := range hs {
		view(t, h, func(tx store.ReadTx) error {
			host, err := tx.Host("h")
			if err != nil {
				return err
			}
			if host.AppliedSeq != workers*rounds || host.Labels["keep"] != "me" {
				t.Errorf("handle %d: after %d increments AppliedSeq = %d, labels %v", i, workers*rounds, host.AppliedSeq, host.Labels)
			}
			return nil
		})
	}
}

// testConcurrentDisjoint: goroutines write facts of their own hosts and
// append events at once; everything each committed is there afterwards,
// and every event seq is distinct.
func testConcurrentDisjoint(t *testing.T, b Backend) {
	s := b.Open(t)
	hs := handles(t, b, s)
	const workers, rounds, perRound = 4, 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			h := hs[w%len(hs)]
			host := fmt.Sprint("host-", w)
			for r := range rounds {
				err := h.Update(context.Background(), func(tx store.Tx) error {
					for i := range perRound {
						if err := tx.PutFact(host, sysctl(fmt.Sprint("k", r*perRound+i), "v")); err != nil {
							return err
						}
					}
					if err := tx.PutHost(&store.Host{ID: host, AppliedSeq: uint64(r + 1)}); err != nil {
						return err
					}
					return tx.AppendEvent(eventOf(host, r))
				})
				if err != nil {
					errs <- fmt.Errorf("worker %d round %d: %w", w, r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	view(t, s, func(tx store.ReadTx) error {
		for w := range workers {
			host := fmt.Sprint("host-", w)
			n := 0
			if err := tx.Facts(host, 0, func(protoFact) error { n++; return nil }); err != nil {
				return err
			}
			h, err := tx.Host(host)
			if err != nil {
				return err
			}
			if n != rounds*perRound || h.AppliedSeq != rounds {
				t.Errorf("%s: %d facts, AppliedSeq %d; want %d, %d", host, n, h.AppliedSeq, rounds*perRound, rounds)
			}
		}
		evs, err := tx.EventsAfter(0, 1000)
		if err != nil {
			return err
		}
		if len(evs) != workers*rounds {
			t.Errorf("%d events, want %d", len(evs), workers*rounds)
		}
		checkIncreasing(t, evs)
		return nil
	})
}

// testAtomicToViews: writers move counts between two hosts' AppliedSeq
// and add a fact with FactCount in step, in Updates, on every handle;
// readers on every handle check in each View that the sum is unchanged
// and that FactCount matches the facts listed. A View sees each Update
// whole or not at all.
func testAtomicToViews(t *testing.T, b Backend) {
	rng := seeded(t)
	s := b.Open(t)
	hs := handles(t, b, s)
	const total = 1000
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutHost(&store.Host{ID: "a", AppliedSeq: total}); err != nil {
			return err
		}
		return tx.PutHost(&store.Host{ID: "b"})
	})
	const writers, rounds = 3, 15
	moves := make([][]uint64, writers)
	for w := range moves {
		for range rounds {
			moves[w] = append(moves[w], uint64(1+rng.IntN(20)))
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers+2*len(hs))
	var writing sync.WaitGroup
	writing.Add(writers)
	for w := range writers {
		wg.Go(func() {
			defer writing.Done()
			h := hs[w%len(hs)]
			for r, n := range moves[w] {
				err := h.Update(context.Background(), func(tx store.Tx) error {
					a, err := tx.Host("a")
					if err != nil {
						return err
					}
					bh, err := tx.Host("b")
					if err != nil {
						return err
					}
					from, to := a, bh
					if r%2 == 1 {
						from, to = bh, a
					}
					k := min(n, from.AppliedSeq)
					from.AppliedSeq -= k
					to.AppliedSeq += k
					a.FactCount++
					if err := tx.PutFact("a", sysctl(fmt.Sprintf("w%d.r%d", w, r), "1")); err != nil {
						return err
					}
					if err := tx.PutHost(a); err != nil {
						return err
					}
					return tx.PutHost(bh)
				})
				if err != nil {
					errs <- fmt.Errorf("writer %d round %d: %w", w, r, err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { writing.Wait(); close(done) }()
	views := make([]int, len(hs))
	for i, h := range hs {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				err := h.View(context.Background(), func(tx store.ReadTx) error {
					a, err := tx.Host("a")
					if err != nil {
						return err
					}
					facts := 0
					if err := tx.Facts("a", 0, func(protoFact) error { facts++; return nil }); err != nil {
						return err
					}
					bh, err := tx.Host("b")
					if err != nil {
						return err
					}
					if a.AppliedSeq+bh.AppliedSeq != total || a.FactCount != uint64(facts) {
						return fmt.Errorf("a View saw part of an Update: AppliedSeq %d + %d, FactCount %d with %d facts",
							a.AppliedSeq, bh.AppliedSeq, a.FactCount, facts)
					}
					return nil
				})
				if err != nil {
					errs <- fmt.Errorf("reader on handle %d: %w", i, err)
					return
				}
				views[i]++
				time.Sleep(200 * time.Microsecond)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	view(t, s, func(tx store.ReadTx) error {
		a, err := tx.Host("a")
		if err != nil {
			return err
		}
		if a.FactCount != writers*rounds {
			t.Errorf("FactCount = %d after %d Updates", a.FactCount, writers*rounds)
		}
		return nil
	})
	t.Logf("views per handle: %v", views)
}
