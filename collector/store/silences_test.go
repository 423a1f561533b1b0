package store

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

func TestSilenceRoundTrip(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	want := &Silence{
		ID: "sil-01", Hosts: []string{"web-*", "db-1"}, Labels: map[string]string{"env": "prod", "rôle": "web"},
		Kind: 1, Key: "/etc/nginx/**", StartsAt: 100, EndsAt: 200, Reason: "nginx upgrade\nticket 42",
		CreatedBy: "alice", CreatedAt: 99, ExpiredBy: "bob", ExpiredAt: 150, Summarized: true,
	}
	window := &Silence{ID: "mw-nightly-1", Hosts: []string{"*"}, StartsAt: 1, EndsAt: 2, Window: "nightly", CreatedBy: "maintenance:nightly"}
	if err := s.Update(ctx, func(tx Tx) error {
		if err := tx.PutSilence(want); err != nil {
			return err
		}
		return tx.PutSilence(window)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	err = s2.View(ctx, func(tx ReadTx) error {
		got, err := tx.Silence("sil-01")
		if err != nil {
			return err
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("silence after reopen (-want +got):\n%s", d)
		}
		var ids []string
		if err := tx.Silences(func(s *Silence) error { ids = append(ids, s.ID); return nil }); err != nil {
			return err
		}
		if d := cmp.Diff([]string{"mw-nightly-1", "sil-01"}, ids); d != "" {
			t.Errorf("Silences order (-want +got):\n%s", d)
		}
		if _, err := tx.Silence("nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing silence: %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Update(ctx, func(tx Tx) error {
		if err := tx.DeleteSilence("sil-01"); err != nil {
			return err
		}
		return tx.DeleteSilence("never-was")
	}); err != nil {
		t.Fatal(err)
	}
	_ = s2.View(ctx, func(tx ReadTx) error {
		if _, err := tx.Silence("sil-01"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted silence: %v, want ErrNotFound", err)
		}
		return nil
	})
	if err := s2.Update(ctx, func(tx Tx) error { return tx.PutSilence(&Silence{}) }); err == nil {
		t.Error("PutSilence with an empty id succeeded")
	}
}

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
