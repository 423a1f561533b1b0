package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/collector/store/pgtest"
	"github.com/plumb-dev/plumb/collector/store/postgres"
	"github.com/plumb-dev/plumb/collector/store/storetest"
)

// TestConformance runs the store's conformance suite against PostgreSQL:
// one private cluster, a fresh database per test, and a second pool on
// the same database as a second collector would have.
func TestConformance(t *testing.T) {
	c := pgtest.Start(t)
	var mu sync.Mutex
	dsns := map[store.Store]string{}
	openDSN := func(t *testing.T, dsn string) store.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s, err := postgres.Open(ctx, dsn, postgres.Options{EventRetention: storetest.Retention})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		mu.Lock()
		dsns[s] = dsn
		mu.Unlock()
		return s
	}
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T) store.Store { return openDSN(t, c.NewDatabase(t)) },
		OpenSecond: func(t *testing.T, first store.Store) store.Store {
			mu.Lock()
			dsn := dsns[first]
			mu.Unlock()
			return openDSN(t, dsn)
		},
		Prune: func(ctx context.Context, s store.Store, now time.Time) (int, error) {
			return s.(store.Pruner).Prune(ctx, now)
		},
	})
}
