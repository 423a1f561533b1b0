package store

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// TestOpenDriftCounts: the partial decode counts what a full decode of
// every stored item counts, over a seeded mix of kinds, statuses and
// severities (with unknown fields thrown in); a missing host counts none.
func TestOpenDriftCounts(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	s, _ := openTemp(t)
	ctx := context.Background()
	kinds := []plumbv1.FactKind{plumbv1.FactKind_FACT_KIND_SYSCTL, plumbv1.FactKind_FACT_KIND_FILE, plumbv1.FactKind_FACT_KIND_HEALTH}
	want := map[string]*plumbv1.OpenDriftCounts{}
	err := s.Update(ctx, func(tx Tx) error {
		for i := range 500 {
			host := []string{"h1", "h2", "h3"}[rng.IntN(3)]
			kind := kinds[rng.IntN(len(kinds))]
			it := &plumbv1.DriftItem{
				Id: "x", HostId: host, Kind: kind, Key: []byte{byte('a' + i%26), byte(i / 26), 0xff},
				Change:   plumbv1.DriftChange_DRIFT_CHANGE_MODIFIED,
				Status:   plumbv1.DriftStatus(rng.IntN(4)),
				Severity: plumbv1.Severity(rng.IntN(4)),
				Baseline: sysctl("k", "0"), Current: sysctl("k", "1"), Reason: "r",
			}
			if rng.IntN(5) == 0 {
				it.ProtoReflect().SetUnknown([]byte{0xf8, 0x3e, 0x07}) // field 999, varint 7
			}
			if err := tx.PutDrift(it); err != nil {
				return err
			}
		}
		// The expected counts, from full decodes.
		return tx.DriftItems("", false, func(it *plumbv1.DriftItem) error {
			c := want[it.GetHostId()]
			if c == nil {
				c = &plumbv1.OpenDriftCounts{}
				want[it.GetHostId()] = c
			}
			switch {
			case it.GetKind() == plumbv1.FactKind_FACT_KIND_HEALTH:
				c.Health++
				c.HealthKeys = append(c.HealthKeys, fact.Display(it.GetKey()))
			case it.GetSeverity() == plumbv1.Severity_SEVERITY_CRITICAL:
				c.Critical++
			case it.GetSeverity() == plumbv1.Severity_SEVERITY_WARNING:
				c.Warning++
			default:
				c.Info++
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx, func(tx ReadTx) error {
		for _, h := range []string{"h1", "h2", "h3", "ghost"} {
			got, err := tx.OpenDriftCounts(h)
			if err != nil {
				return err
			}
			w := want[h]
			if w == nil {
				w = &plumbv1.OpenDriftCounts{}
			}
			if d := cmp.Diff(w, got, protocmp.Transform()); d != "" {
				t.Errorf("host %s counts (-full decode +partial):\n%s", h, d)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestScanDriftItemRejectsTruncated(t *testing.T) {
	b, err := proto.Marshal(&plumbv1.DriftItem{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte("/etc/x"), Baseline: sysctl("a", "b")})
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n < len(b); n++ {
		if _, err := scanDriftItem(b[:n]); err == nil && proto.Unmarshal(b[:n], &plumbv1.DriftItem{}) != nil {
			t.Errorf("truncated at %d: partial decode accepts what proto.Unmarshal refuses", n)
		}
	}
}
