package drift

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// BenchmarkApplyBatch measures the apply path as ingest drives it: 1,000
// upserts of file facts per transaction (one fsync). "drifting": on a host
// with a baseline, half modify baseline facts and half add new ones, so
// every delta opens or updates drift. "no-baseline": an initial snapshot,
// every delta a new fact. Reports deltas/s.
func BenchmarkApplyBatch(b *testing.B) {
	b.Run("drifting", func(b *testing.B) { benchApply(b, true) })
	b.Run("no-baseline", func(b *testing.B) { benchApply(b, false) })
}

// benchApply with drifting set adopts a baseline first; without, every
// delta is a new fact on a host still in its initial snapshot.
func benchApply(b *testing.B, drifting bool) {
	const batch = 1000
	st, err := store.Open(filepath.Join(b.TempDir(), "plumb.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	eng := &Engine{}
	var seq uint64
	run := func(mk func(i int) *plumbv1.Fact, extra ...*plumbv1.Delta) {
		err := st.Update(context.Background(), func(tx store.Tx) error {
			h, err := tx.Host(hostID)
			if err != nil {
				h = &store.Host{ID: hostID}
			}
			for i := range batch {
				seq++
				if _, err := eng.Apply(tx, h, &plumbv1.Delta{Seq: seq, Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: mk(i)}); err != nil {
					return err
				}
			}
			for _, d := range extra {
				seq++
				d.Seq = seq
				if _, err := eng.Apply(tx, h, d); err != nil {
					return err
				}
			}
			return tx.PutHost(h)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if drifting {
		run(func(i int) *plumbv1.Fact { return file(fmt.Sprintf("/etc/base/%06d", i), "v0", 1) }, checkpoint())
	}
	b.ResetTimer()
	for n := range b.N {
		run(func(i int) *plumbv1.Fact {
			if i%2 == 0 {
				return file(fmt.Sprintf("/etc/base/%06d", i), fmt.Sprint("v", n+1), 1)
			}
			return file(fmt.Sprintf("/srv/new/%09d", n*batch+i), "x", 1)
		})
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "deltas/s")
}
