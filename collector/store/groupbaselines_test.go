package store

import (
	"context"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A database at schema 3 gains the group baselines bucket on Open.
func TestMigrateGroupBaselinesFromV3(t *testing.T) {
	path := t.TempDir() + "/v3.db"
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
		for _, m := range []func(*bolt.Tx) error{migrateV1, migrateV2, migrateV3} {
			if err := m(tx); err != nil {
				return err
			}
		}
		return meta.Put(keySchema, be64(3))
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
		return tx.PutGroupBaseline(&GroupBaseline{Group: "web", Generation: 1})
	}); err != nil {
		t.Errorf("PutGroupBaseline after migrating from schema 3: %v", err)
	}
}
