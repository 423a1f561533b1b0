package drift

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
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

// BenchmarkApplyHosts is the committer's group commit under the ingest
// benchmark's load (bench/ingest_test.go): each transaction takes one job
// of 500 new file facts from each of 36 hosts still in their initial
// snapshot, host record read and written per job. Reports deltas/s.
func BenchmarkApplyHosts(b *testing.B) {
	const hosts, perJob = 36, 500
	st, err := store.Open(filepath.Join(b.TempDir(), "plumb.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	eng := &Engine{}
	seqs := make([]uint64, hosts)
	b.ResetTimer()
	for n := range b.N {
		err := st.Update(context.Background(), func(tx store.Tx) error {
			for h := range hosts {
				id := fmt.Sprintf("bench-%d", h)
				host, err := tx.Host(id)
				if err != nil {
					host = &store.Host{ID: id}
				}
				for i := range perJob {
					seqs[h]++
					f := file(fmt.Sprintf("/bench/%s/%d", id, n*perJob+i), "x", 1)
					if _, err := eng.Apply(tx, host, &plumbv1.Delta{Seq: seqs[h], Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: f}); err != nil {
						return err
					}
				}
				if err := tx.PutHost(host); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*hosts*perJob)/b.Elapsed().Seconds(), "deltas/s")
}

// BenchmarkResyncHost is the collector's work in a full resync of a
// 100,000-fact host it has no record of: all 256 buckets replaced, 64 to
// a transaction and one ReplaceBuckets call as ingest's group commits
// take them, then the checkpoint that adopts them as the baseline.
// Reports facts/s.
func BenchmarkResyncHost(b *testing.B) {
	const facts = 100000
	byBucket := make([][]*plumbv1.Fact, fact.BucketCount)
	var digest fact.SetDigest
	for i := range facts {
		f := file(fmt.Sprintf("/srv/app/%06d.conf", i), fmt.Sprint("c", i), 1)
		k := fact.KeyOf(f)
		byBucket[k.Bucket()] = append(byBucket[k.Bucket()], f)
		digest.Add(k, f.GetDigest())
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		st, err := store.Open(filepath.Join(b.TempDir(), "plumb.db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		eng := &Engine{}
		b.StartTimer()
		for first := 0; first < fact.BucketCount; first += 64 {
			err := st.Update(context.Background(), func(tx store.Tx) error {
				h, err := tx.Host(hostID)
				if err != nil {
					h = &store.Host{ID: hostID}
				}
				var run []BucketFacts
				for bk := first; bk < first+64; bk++ {
					run = append(run, BucketFacts{Bucket: uint32(bk), Facts: byBucket[bk]})
				}
				if _, err := eng.ReplaceBuckets(tx, h, run); err != nil {
					return err
				}
				return tx.PutHost(h)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		err = st.Update(context.Background(), func(tx store.Tx) error {
			h, err := tx.Host(hostID)
			if err != nil {
				return err
			}
			if _, err := eng.Apply(tx, h, &plumbv1.Delta{Seq: 1, Op: plumbv1.DeltaOp_DELTA_OP_CHECKPOINT, SetDigest: digest.Sum()}); err != nil {
				return err
			}
			if !h.HasBaseline {
				return fmt.Errorf("no baseline adopted")
			}
			return tx.PutHost(h)
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*facts)/b.Elapsed().Seconds(), "facts/s")
}
