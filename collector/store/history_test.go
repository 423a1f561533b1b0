package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// TestPruneHistory: audit records and fact history entries older than the
// retention go, newer ones stay, for every host; a host's entries stay in
// time order.
func TestPruneHistory(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "plumb.db"), Options{EventRetention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	k := fact.Key{Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, ID: "net.ipv4.ip_forward"}
	old := &plumbv1.Fact{Kind: k.Kind, Key: []byte(k.ID), Digest: []byte("d")}
	err = s.Update(ctx, func(tx Tx) error {
		for _, host := range []string{"a", "ab", "b"} {
			for m := range 4 { // 3h, 2h, 1h and 0h ago
				at := now.Add(-time.Duration(3-m) * time.Hour)
				if err := tx.PutFactChange(host, at.UnixNano(), k, old); err != nil {
					return err
				}
			}
			if err := tx.PutFactChange(host, now.UnixNano(), k, nil); err != nil {
				return err // same instant: the first (old) stays
			}
		}
		// The audit log is appended in time order.
		for m := range 4 {
			for _, host := range []string{"a", "ab", "b"} {
				if err := Audit(tx, now.Add(-time.Duration(3-m)*time.Hour), "alice", "silence.create", host, "s1", "why"); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Prune(ctx, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// 3 hosts × (3 history + 3 audit) are older than an hour at now+1m.
	if n != 18 {
		t.Errorf("pruned %d, want 18", n)
	}
	err = s.View(ctx, func(tx ReadTx) error {
		for _, host := range []string{"a", "ab", "b"} {
			var ats []int64
			if err := tx.FactChanges(host, 0, func(c *FactChange) error {
				ats = append(ats, c.At)
				if c.Old == nil || string(c.Old.GetDigest()) != "d" {
					t.Errorf("host %s at %d: old %v, want digest d", host, c.At, c.Old)
				}
				return nil
			}); err != nil {
				return err
			}
			if len(ats) != 1 || ats[0] != now.UnixNano() {
				t.Errorf("host %s: history at %v, want one entry at now", host, ats)
			}
		}
		recs, err := tx.AuditAfter(0, 100)
		if err != nil {
			return err
		}
		if len(recs) != 3 {
			t.Errorf("%d audit records left, want 3", len(recs))
		}
		for _, r := range recs {
			if r.At != now.UnixNano() || r.Actor != "alice" {
				t.Errorf("audit record left: %+v", r)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
