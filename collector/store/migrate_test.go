package store

import (
	"context"
	"log/slog"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestMigrationsOrdered(t *testing.T) {
	for i, m := range migrations {
		if m.version != uint64(i+1) {
			t.Errorf("migrations[%d] has version %d, want %d", i, m.version, i+1)
		}
		if m.name == "" || m.apply == nil {
			t.Errorf("migration %d lacks a name or a function", m.version)
		}
	}
}

func TestFreshDatabaseAtLatestSchema(t *testing.T) {
	s, _ := openTemp(t)
	err := s.db.View(func(tx *bolt.Tx) error {
		v, err := schemaVersion(tx)
		if err != nil {
			return err
		}
		if v != latestSchema() {
			t.Errorf("schema %d, want %d", v, latestSchema())
		}
		for _, name := range [][]byte{bucketHosts, bucketEvents, bucketCursors} {
			if tx.Bucket(name) == nil {
				t.Errorf("bucket %s missing", name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrateV1 runs every migration from an empty file, twice: a crash
// between a migration and its commit reruns it.
func TestMigrateV1(t *testing.T) {
	db, err := bolt.Open(t.TempDir()+"/m.db", 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for range 2 {
		err = db.Update(func(tx *bolt.Tx) error { return migrateV1(tx) })
		if err != nil {
			t.Fatalf("migrateV1: %v", err)
		}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := migrate(tx, 0, discard()); err != nil {
			return err
		}
		v, err := schemaVersion(tx)
		if v != latestSchema() || err != nil {
			t.Errorf("after migrate: schema %d, %v; want %d", v, err, latestSchema())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The migrated store works.
	s := &Bolt{db: db, opts: Options{}.withDefaults()}
	s.logger = s.opts.Logger
	if err := s.Update(context.Background(), func(tx Tx) error { return tx.PutHost(&Host{ID: "h"}) }); err != nil {
		t.Errorf("Update on a migrated database: %v", err)
	}
	if err := s.Update(context.Background(), func(tx Tx) error {
		return tx.PutIdentity(&Identity{HostID: "h", KeyPin: "sha256:00"})
	}); err != nil {
		t.Errorf("PutIdentity on a migrated database: %v", err)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
