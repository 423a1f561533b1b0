// Package storetest owns the conformance suite of store.Store: the
// behaviour every backend (bbolt, PostgreSQL) must show, checked through
// the interface alone. A backend's test calls Run with a Backend that opens
// fresh stores; new store methods add their tests here, so that every
// backend is held to them at once.
//
// The suite writes its transaction functions so that running one more than
// once per Update is harmless (a backend may retry a transaction that lost
// a serialization conflict): results are assigned, never accumulated,
// across runs.
package storetest

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/collector/store"
)

// Retention is the event retention of the stores a Backend opens: Prune
// deletes history older than this.
const Retention = time.Hour

// Backend is what the suite needs of one store implementation.
type Backend struct {
	// Open returns a fresh, empty store for one test, whose event
	// retention is Retention. It closes the store when the test ends
	// (t.Cleanup).
	Open func(t *testing.T) store.Store
	// OpenSecond returns a second handle on first's database, as a second
	// collector sharing it would have, closed when the test ends; nil when
	// the backend allows one handle at a time (bbolt). The concurrency
	// tests then spread their work over both handles.
	OpenSecond func(t *testing.T, first store.Store) store.Store
	// Prune prunes s's history as of now, as the collector's hourly job
	// does, and returns how many records (events, audit records, fact
	// history entries) it deleted.
	Prune func(ctx context.Context, s store.Store, now time.Time) (int, error)
}

// test is one conformance test.
type test struct {
	name string
	fn   func(t *testing.T, b Backend)
}

// tests lists the suite; each file adds its own.
func tests() []test {
	var all []test
	for _, group := range [][]test{
		recordTests, orderTests, notFoundTests, txTests, concurrencyTests, modelTests,
		eventTests, pruneTests, leaseTests, secretTests, optionalTests, bucketTests,
	} {
		all = append(all, group...)
	}
	return all
}

// Run runs the whole suite against b, each test in a subtest of its own
// with a fresh store.
func Run(t *testing.T, b Backend) {
	if b.Open == nil || b.Prune == nil {
		t.Fatal("storetest: Backend needs Open and Prune")
	}
	for _, tc := range tests() {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b) })
	}
}

// handles returns s and, when the backend allows one, a second handle on
// the same database.
func handles(t *testing.T, b Backend, s store.Store) []store.Store {
	t.Helper()
	if b.OpenSecond == nil {
		t.Log("single handle: the backend allows one at a time")
		return []store.Store{s}
	}
	return []store.Store{s, b.OpenSecond(t, s)}
}

// seeded returns a random source seeded from the clock, or from
// STORETEST_SEED to replay a failure, and logs the seed.
func seeded(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("STORETEST_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("STORETEST_SEED=%q: %v", v, err)
		}
		seed = n
	}
	t.Logf("seed %d (replay with STORETEST_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed>>32))
}

// update runs fn in one Update, failing the test on error.
func update(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// view runs fn in one View, failing the test on error.
func view(t *testing.T, s store.Store, fn func(store.ReadTx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// wantNotFound reports an error unless err is store.ErrNotFound.
func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: error %v, want store.ErrNotFound", what, err)
	}
}
