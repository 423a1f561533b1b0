package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/collector/store/postgres"
)

// backend is what the collector needs of its store: the Store, pruning
// and a readiness ping, whichever the backend.
type backend interface {
	store.Store
	store.Pruner
	store.Pinger
}

// openStore opens the configured backend: bbolt in the data directory,
// or PostgreSQL (retried at start for store.connect_timeout).
func openStore(ctx context.Context, cfg *Config, logger *slog.Logger) (backend, error) {
	logger = logger.With("component", "store")
	switch cfg.Store.Backend {
	case BackendPostgres:
		st, err := postgres.Open(ctx, cfg.Store.DSN, postgres.Options{
			EventRetention: cfg.EventRetention,
			ConnectTimeout: cfg.Store.ConnectTimeout,
			Logger:         logger,
		})
		if err != nil {
			return nil, err
		}
		logger.Info("store: PostgreSQL", "dsn", st.DSN())
		return st, nil
	case BackendBolt, "":
		st, err := store.Open(filepath.Join(cfg.DataDir, DBFile), store.Options{
			EventRetention: cfg.EventRetention,
			Logger:         logger,
		})
		if err != nil {
			return nil, err
		}
		return st, nil
	default:
		return nil, fmt.Errorf("store.backend %q: unknown", cfg.Store.Backend)
	}
}
