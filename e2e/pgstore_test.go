package e2e

import (
	"sync"
	"testing"

	"github.com/plumb-dev/plumb/collector/store/pgtest"
)

// With PLUMB_E2E_STORE=postgres every collector the suite starts keeps its
// state in PostgreSQL: a private cluster per test, a database per data
// directory (a restarted collector finds its state again).
var pgStores struct {
	sync.Mutex
	clusters map[testing.TB]*pgtest.Cluster
	dsns     map[string]string
}

func postgresFor(t *testing.T, data string) string {
	t.Helper()
	pgStores.Lock()
	defer pgStores.Unlock()
	if dsn, ok := pgStores.dsns[data]; ok {
		return dsn
	}
	if pgStores.dsns == nil {
		pgStores.dsns = map[string]string{}
		pgStores.clusters = map[testing.TB]*pgtest.Cluster{}
	}
	c := pgStores.clusters[t]
	if c == nil {
		c = pgtest.Start(t)
		pgStores.clusters[t] = c
		t.Cleanup(func() {
			pgStores.Lock()
			delete(pgStores.clusters, t)
			pgStores.Unlock()
		})
	}
	dsn := c.NewDatabase(t)
	pgStores.dsns[data] = dsn
	return dsn
}
