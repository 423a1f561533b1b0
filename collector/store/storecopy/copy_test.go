package storecopy_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/collector/store/pgtest"
	"github.com/plumb-dev/plumb/collector/store/postgres"
	"github.com/plumb-dev/plumb/collector/store/storecopy"
	"github.com/plumb-dev/plumb/pkg/fact"
)

func mkFact(key, value string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{
		Kind:  plumbv1.FactKind_FACT_KIND_SYSCTL,
		Key:   []byte(key),
		Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: value}},
	})
}

// TestCopyBoltToPostgres fills a bbolt store with some of everything
// (history partly pruned, a group no host names any more), copies it, and
// checks the verification, the numbering that follows, and that the
// verification catches a fact lost in the target.
func TestCopyBoltToPostgres(t *testing.T) {
	ctx := context.Background()
	src, err := store.Open(filepath.Join(t.TempDir(), "plumb.db"), store.Options{EventRetention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	old := time.Unix(1000, 0)
	err = src.Update(ctx, func(tx store.Tx) error {
		for h := range 3 {
			host := fmt.Sprintf("host-%d", h)
			hst := &store.Host{ID: host, AppliedSeq: uint64(10 + h), HasBaseline: true}
			for i := range 50 {
				f := mkFact(fmt.Sprintf("k.%d\xff", i), fmt.Sprint(h))
				hst.Digest.Add(fact.KeyOf(f), f.GetDigest())
				if err := tx.PutFact(host, f); err != nil {
					return err
				}
				if err := tx.PutBaseline(host, f); err != nil {
					return err
				}
			}
			hst.FactCount = 50
			if err := tx.PutHost(hst); err != nil {
				return err
			}
			if err := tx.PutDrift(&plumbv1.DriftItem{HostId: host, Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, Key: []byte("k.1\xff"), Id: "d" + host}); err != nil {
				return err
			}
			if err := tx.PutFactChange(host, old.UnixNano()+int64(h), fact.Key{Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, ID: "k.1\xff"}, nil); err != nil {
				return err
			}
		}
		for i := range 30 {
			at := old.UnixNano()
			if i >= 20 {
				at = time.Now().UnixNano()
			}
			if err := tx.AppendEvent(&plumbv1.DriftEvent{Id: fmt.Sprint(i), AtUnixNano: at}); err != nil {
				return err
			}
			if err := tx.AppendAudit(&store.AuditRecord{At: at, Actor: "a", Action: "x.y"}); err != nil {
				return err
			}
		}
		errs := []error{
			tx.SetCursor("webhook-1", 25),
			tx.PutAPIToken(&store.APIToken{ID: "t1", Name: "admin"}),
			tx.PutJoinToken(&store.JoinToken{ID: "j1"}),
			tx.PutIdentity(&store.Identity{HostID: "host-0", KeyPin: "sha256:x"}),
			tx.PutSilence(&store.Silence{ID: "s1", Reason: "r"}),
			tx.PutGroupBaseline(&store.GroupBaseline{Group: "gone", Generation: 2}),
			tx.PutGroupBaselineFact("gone", mkFact("g", "1")),
			tx.PutGroupException(&store.GroupException{Group: "gone", Host: "host-1", Key: fact.Key{Kind: 5, ID: "x"}}),
			tx.PutPolicy(&store.Policy{Version: 1, YAML: "a"}),
			tx.PutPolicy(&store.Policy{Version: 2, YAML: "b"}),
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatal(err)
	}
	// The oldest events and audit records are pruned: the last seqs are
	// then more than the count.
	n, err := src.Prune(ctx, time.Now())
	if err != nil || n == 0 {
		t.Fatalf("Prune: %d, %v", n, err)
	}

	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	dst, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	res, err := storecopy.Copy(ctx, src, dst, map[string][]byte{"ca.crt": []byte("CERT"), "digest.key": []byte("KEY")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Differences) > 0 || res.Digests != 3 {
		t.Fatalf("Copy: %d digests verified, differences %q", res.Digests, res.Differences)
	}
	for name, want := range map[string]int{"hosts": 3, "facts": 150, "baselines": 150, "drift": 3, "events": 10,
		"audit": 10, "cursors": 1, "group_baselines": 1, "group_facts": 1, "group_exceptions": 1, "policies": 2, "secrets": 2} {
		if res.Target[name] != want {
			t.Errorf("target %s: %d, want %d", name, res.Target[name], want)
		}
	}
	err = dst.Update(ctx, func(tx store.Tx) error {
		ev := &plumbv1.DriftEvent{Id: "next"}
		if err := tx.AppendEvent(ev); err != nil {
			return err
		}
		if ev.GetSeq() != 31 {
			t.Errorf("the first event after the copy got seq %d, want 31", ev.GetSeq())
		}
		r := &store.AuditRecord{Actor: "a", Action: "x.y"}
		if err := tx.AppendAudit(r); err != nil {
			return err
		}
		if r.Seq != 31 {
			t.Errorf("the first audit record after the copy got seq %d, want 31", r.Seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := storecopy.Copy(ctx, src, dst, nil); !errors.Is(err, storecopy.ErrTargetNotEmpty) {
		t.Errorf("second Copy = %v, want ErrTargetNotEmpty", err)
	}

	// A fact lost in the target: the verification says which host.
	pg.Exec(t, dsn, `DELETE FROM plumb_facts WHERE host = 'host-2'::bytea AND k = (SELECT k FROM plumb_facts WHERE host = 'host-2'::bytea ORDER BY k LIMIT 1)`)
	res, err = storecopy.Verify(ctx, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(res.Differences, "\n")
	if !strings.Contains(joined, `host "host-2": set digest`) || !strings.Contains(joined, "facts: 150 in the source, 149 in the target") {
		t.Errorf("Verify after a lost fact: %q", res.Differences)
	}
}
