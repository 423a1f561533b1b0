package store

import (
	"context"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestSilenceEnd(t *testing.T) {
	for _, c := range []struct {
		s    Silence
		want int64
	}{
		{Silence{StartsAt: 10, EndsAt: 20}, 20},
		{Silence{StartsAt: 10, EndsAt: 20, ExpiredAt: 15}, 15},
		{Silence{StartsAt: 10, EndsAt: 20, ExpiredAt: 25}, 20}, // expired after its end: ended at its end
	} {
		if got := c.s.End(); got != c.want {
			t.Errorf("%+v.End() = %d, want %d", c.s, got, c.want)
		}
		if c.s.ActiveAt(9) || !c.s.ActiveAt(10) || !c.s.ActiveAt(c.want-1) || c.s.ActiveAt(c.want) {
			t.Errorf("%+v: ActiveAt wrong around [10, %d)", c.s, c.want)
		}
	}
}

// TestMigrateV3FromV2: a database written at schema 2 gains the silences
// bucket and accepts silences.
func TestMigrateV3FromV2(t *testing.T) {
	path := t.TempDir() + "/v2.db"
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keyMagic, []byte(magic)); err != nil {
			return err
		}
		if err := migrateV1(tx); err != nil {
			return err
		}
		if err := migrateV2(tx); err != nil {
			return err
		}
		return meta.Put(keySchema, be64(2))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(context.Background(), func(tx Tx) error {
		return tx.PutSilence(&Silence{ID: "x", Hosts: []string{"h"}, StartsAt: 1, EndsAt: 2})
	}); err != nil {
		t.Errorf("PutSilence after migrating from schema 2: %v", err)
	}
	_ = s.db.View(func(tx *bolt.Tx) error {
		if v, _ := schemaVersion(tx); v != latestSchema() {
			t.Errorf("schema %d after Open, want %d", v, latestSchema())
		}
		return nil
	})
}
