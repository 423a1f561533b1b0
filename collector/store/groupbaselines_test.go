package store

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/testing/protocmp"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

func TestGroupBaselineRoundTrip(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	rec := &GroupBaseline{Group: "web", SourceHost: "web-1", By: "alice", Reason: "golden\nv1", At: 7, Generation: 2,
		Selections: []Selection{{Kind: 1, Key: "/etc/**"}}, FactCount: 2}
	f1 := &plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte("/etc/a"), Digest: make([]byte, 32)}
	f2 := &plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte("/etc/b"), Digest: make([]byte, 32)}
	k1 := fact.KeyOf(f1)
	exc := &GroupException{Group: "web", Host: "web-2", Key: k1, By: "bob", Reason: "canary", At: 9}
	if err := s.Update(ctx, func(tx Tx) error {
		if err := tx.PutGroupBaseline(rec); err != nil {
			return err
		}
		for _, f := range []*plumbv1.Fact{f1, f2} {
			if err := tx.PutGroupBaselineFact("web", f); err != nil {
				return err
			}
		}
		if err := tx.DeleteGroupBaselineFact("web", fact.KeyOf(f2)); err != nil {
			return err
		}
		return tx.PutGroupException(exc)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = s.View(ctx, func(tx ReadTx) error {
		got, err := tx.GroupBaseline("web")
		if err != nil || !cmp.Equal(got, rec) {
			t.Errorf("GroupBaseline = %+v, %v; want %+v", got, err, rec)
		}
		if _, err := tx.GroupBaseline("db"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GroupBaseline(db) = %v, want ErrNotFound", err)
		}
		var facts []*plumbv1.Fact
		_ = tx.GroupBaselineFacts("web", func(f *plumbv1.Fact) error { facts = append(facts, f); return nil })
		if d := cmp.Diff([]*plumbv1.Fact{f1}, facts, protocmp.Transform()); d != "" {
			t.Errorf("GroupBaselineFacts (-want +got):\n%s", d)
		}
		if _, err := tx.GroupBaselineFact("web", fact.KeyOf(f2)); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted fact: %v, want ErrNotFound", err)
		}
		e, err := tx.GroupException("web", "web-2", k1)
		if err != nil || !cmp.Equal(e, exc) {
			t.Errorf("GroupException = %+v, %v; want %+v", e, err, exc)
		}
		if _, err := tx.GroupException("web", "web-3", k1); !errors.Is(err, ErrNotFound) {
			t.Errorf("other host's exception: %v, want ErrNotFound", err)
		}
		n := 0
		_ = tx.GroupExceptions("web", func(*GroupException) error { n++; return nil })
		if n != 1 {
			t.Errorf("GroupExceptions: %d, want 1", n)
		}
		return nil
	})
}

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
