package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/plumb-dev/plumb/collector/store"
)

// leaseTests: a lease has one holder at a time, until it expires or is
// released.
var leaseTests = []test{
	{"LeaseOneHolderUntilExpiry", testLeaseExpiry},
	{"LeaseRelease", testLeaseRelease},
	{"LeaseOneWinnerAmongConcurrentClaimers", testLeaseConcurrent},
}

// claim runs ClaimLease in its own Update.
func claim(t *testing.T, s store.Store, name, holder string, now, until int64) bool {
	t.Helper()
	var ok bool
	update(t, s, func(tx store.Tx) error {
		var err error
		ok, err = tx.ClaimLease(name, holder, now, until)
		return err
	})
	return ok
}

func lease(t *testing.T, s store.Store, name string) *store.Lease {
	t.Helper()
	var l *store.Lease
	view(t, s, func(tx store.ReadTx) error {
		var err error
		l, err = tx.Lease(name)
		if errors.Is(err, store.ErrNotFound) {
			l, err = nil, nil
		}
		return err
	})
	return l
}

func testLeaseExpiry(t *testing.T, b Backend) {
	s := b.Open(t)
	const name = "notifier/hook"
	if !claim(t, s, name, "a", 100, 110) {
		t.Fatal("a could not claim a free lease")
	}
	if got, want := lease(t, s, name), (&store.Lease{Name: name, Holder: "a", Until: 110}); !cmp.Equal(got, want) {
		t.Errorf("Lease = %+v, want %+v", got, want)
	}
	if claim(t, s, name, "b", 105, 115) {
		t.Fatal("b claimed a lease a holds until 110")
	}
	if claim(t, s, name, "b", 109, 200) {
		t.Fatal("b claimed a lease a holds until 110, one before it ends")
	}
	if got := lease(t, s, name); got.Holder != "a" || got.Until != 110 {
		t.Errorf("a failed claim changed the lease: %+v", got)
	}
	if !claim(t, s, name, "a", 108, 118) {
		t.Fatal("a could not renew its own lease")
	}
	if claim(t, s, name, "b", 117, 127) {
		t.Fatal("b claimed a lease a renewed until 118")
	}
	if !claim(t, s, name, "b", 118, 128) {
		t.Fatal("b could not claim a lease that expired at 118")
	}
	if got, want := lease(t, s, name), (&store.Lease{Name: name, Holder: "b", Until: 128}); !cmp.Equal(got, want) {
		t.Errorf("Lease after takeover = %+v, want %+v", got, want)
	}
	// The holder may renew even after its lease expired, if nobody took it.
	if !claim(t, s, name, "b", 500, 510) {
		t.Fatal("b could not renew its own expired lease")
	}
	// A renewal may shorten the lease; until is whatever the holder asks.
	if !claim(t, s, name, "b", 501, 505) || lease(t, s, name).Until != 505 {
		t.Errorf("b's renewal to 505: lease %+v", lease(t, s, name))
	}
	// Leases are independent of each other.
	if !claim(t, s, "other", "a", 501, 600) {
		t.Error("a could not claim another, free lease")
	}
	if got := lease(t, s, name); got.Holder != "b" {
		t.Errorf("claiming another lease changed this one: %+v", got)
	}
	for _, bad := range [][2]string{{"", "a"}, {name, ""}} {
		if err := s.Update(t.Context(), func(tx store.Tx) error {
			_, err := tx.ClaimLease(bad[0], bad[1], 1, 2)
			return err
		}); err == nil {
			t.Errorf("ClaimLease(%q, %q) succeeded", bad[0], bad[1])
		}
	}
}

func testLeaseRelease(t *testing.T, b Backend) {
	s := b.Open(t)
	const name = "notifier/hook"
	if !claim(t, s, name, "b", 100, 200) {
		t.Fatal("b could not claim a free lease")
	}
	update(t, s, func(tx store.Tx) error {
		if err := tx.ReleaseLease(name, "a"); err != nil {
			return err
		}
		return tx.ReleaseLease("never-claimed", "a")
	})
	if claim(t, s, name, "a", 150, 250) {
		t.Fatal("a's release freed b's lease")
	}
	update(t, s, func(tx store.Tx) error { return tx.ReleaseLease(name, "b") })
	if l := lease(t, s, name); l != nil {
		t.Errorf("Lease after its holder released it = %+v, want ErrNotFound", l)
	}
	if !claim(t, s, name, "a", 150, 250) {
		t.Fatal("a could not claim a lease its holder released before it expired")
	}
}

// testLeaseConcurrent: claimers race for a free lease at the same instant,
// each in its own Update, spread over the handles; exactly one wins, and
// the lease names it. Then the same for an expired lease.
func testLeaseConcurrent(t *testing.T, b Backend) {
	s := b.Open(t)
	hs := handles(t, b, s)
	const claimers = 8
	race := func(now, until int64) []string {
		start := make(chan struct{})
		won := make([]bool, claimers)
		errs := make([]error, claimers)
		var wg sync.WaitGroup
		for c := range claimers {
			wg.Go(func() {
				<-start
				errs[c] = hs[c%len(hs)].Update(context.Background(), func(tx store.Tx) error {
					var err error
					won[c], err = tx.ClaimLease("l", fmt.Sprint("c", c), now, until)
					return err
				})
			})
		}
		close(start)
		wg.Wait()
		var winners []string
		for c := range claimers {
			if errs[c] != nil {
				t.Errorf("claimer %d: %v", c, errs[c])
			}
			if won[c] {
				winners = append(winners, fmt.Sprint("c", c))
			}
		}
		if len(winners) != 1 {
			t.Fatalf("claimers %v all won the lease at %d, want exactly one", winners, now)
		}
		if l := lease(t, s, "l"); l == nil || l.Holder != winners[0] || l.Until != until {
			t.Errorf("lease after the race = %+v, want held by %s until %d", l, winners[0], until)
		}
		return winners
	}
	first := race(100, 200)
	second := race(200, 300)
	t.Logf("winners: %v at 100, %v at 200", first, second)
}
