package storetest

import (
	"context"
	"fmt"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

var bucketTests = []test{
	{"FactsInBucketFollowsWritesInTheTransaction", factsInBucketFollowsWrites},
}

// A transaction that asks for many buckets of one host answers from an
// index of the host's keys after the first; puts and deletes in the same
// transaction keep it current. Seeded random puts and deletes of the same
// keys, between bucket reads, are checked against the facts the
// transaction has written, and once more from a fresh transaction.
func factsInBucketFollowsWrites(t *testing.T, b Backend) {
	rng := seeded(t)
	s := b.Open(t)
	ctx := context.Background()
	held := map[string]string{} // key → content
	put := func(tx store.Tx, k, content string) error {
		held[k] = content
		return tx.PutFact("h", fileFact(k, content))
	}
	check := func(tx store.ReadTx, b uint32) error {
		want := map[string]string{}
		for k, c := range held {
			if fact.KeyOf(fileFact(k, c)).Bucket() == b {
				want[k] = c
			}
		}
		got := map[string]string{}
		var last string
		err := tx.FactsInBucket("h", b, func(f *plumbv1.Fact) error {
			k := string(f.GetKey())
			if k <= last {
				t.Errorf("bucket %d: %q after %q, want key order", b, k, last)
			}
			last = k
			got[k] = string(f.GetFile().GetSha256())
			return nil
		})
		if err != nil {
			return err
		}
		if len(got) != len(want) {
			t.Fatalf("bucket %d: %d facts, want %d", b, len(got), len(want))
		}
		for k, c := range want {
			if got[k] != string(fileFact(k, c).GetFile().GetSha256()) {
				t.Fatalf("bucket %d: %s has another value than the one written last", b, k)
			}
		}
		return nil
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		for i := range 2000 {
			if err := put(tx, fmt.Sprintf("/etc/f%d", i), "v0"); err != nil {
				return err
			}
		}
		for range 3000 {
			k := fmt.Sprintf("/etc/f%d", rng.IntN(2500))
			switch rng.IntN(4) {
			case 0:
				delete(held, k)
				if err := tx.DeleteFact("h", fact.KeyOf(fileFact(k, ""))); err != nil {
					return err
				}
			case 1:
				if err := check(tx, uint32(rng.IntN(fact.BucketCount))); err != nil {
					return err
				}
			default:
				if err := put(tx, k, fmt.Sprint("v", rng.IntN(5))); err != nil {
					return err
				}
			}
		}
		for bk := range uint32(fact.BucketCount) {
			if err := check(tx, bk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx, func(tx store.ReadTx) error {
		for bk := range uint32(fact.BucketCount) {
			if err := check(tx, bk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
