package ingest

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

func fuzzSeeds() [][]byte {
	var out [][]byte
	add := func(m *plumbv1.SyncRequest) {
		b, err := proto.Marshal(m)
		if err != nil {
			panic(err)
		}
		out = append(out, b)
	}
	add(hello("fuzz"))
	add(batch(upsert(1, "/a", "1"), upsert(2, "/b", "2")))
	add(batch(&plumbv1.Delta{Seq: 3, Op: plumbv1.DeltaOp_DELTA_OP_DELETE, Fact: upsert(0, "/a", "").GetFact()}))
	var d fact.SetDigest
	add(batch(checkpoint(4, &d)))
	add(batch(upsert(math.MaxUint64, "/z", "1")))
	f := upsert(0, "/bucketed", "1").GetFact()
	add(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Bucket{Bucket: &plumbv1.BucketSnapshot{
		Bucket: fact.KeyOf(f).Bucket(), Facts: []*plumbv1.Fact{f}, Final: true}}})
	add(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Bucket{Bucket: &plumbv1.BucketSnapshot{Bucket: 4096, Final: true}}})
	add(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Coverage{Coverage: &plumbv1.Coverage{Conditions: []*plumbv1.CoverageCondition{
		{Source: "file", State: plumbv1.CoverageState_COVERAGE_STATE_BLIND, Reason: "unreadable", Detail: "/root"}}}}})
	return out
}

// FuzzSyncRequest feeds arbitrary bytes through what an agent's message
// meets in the collector: the wire codec's counts, the stream's checks,
// and the committer applying it through the drift engine to a real bbolt
// store. Nothing may panic; a refused message changes nothing; the host's
// applied seq only moves within the window; its fact count stays within
// the quota and equal to the facts stored.
func FuzzSyncRequest(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	st, err := store.Open(filepath.Join(f.TempDir(), "plumb.db"), store.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	l := limits.NewDefaults()
	l.MaxFactsPerHost = 50
	l.MaxDeltasPerBatch = 100
	l.MaxFactsPerSnapshot = 100
	l.MaxCoverageConditions = 20
	l.MaxPendingSnapshotBytes = 64 << 10
	l.MaxPendingSnapshotBytesTotal = 64 << 10
	lm := limits.NewMetrics(nil)
	srv := New(st, &drift.Engine{Logger: slog.New(slog.DiscardHandler)}, Options{Limits: l, LimitMetrics: lm})
	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(cancel)
	go srv.Run(ctx)
	codec := ServerCodec(l, lm)
	const host = "fuzz"

	f.Fuzz(func(t *testing.T, data []byte) {
		var m plumbv1.SyncRequest
		if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(data)}, &m); err != nil {
			return // malformed: gRPC ends the stream
		}
		before := readHost(t, st, host)
		var herr error
		if h := m.GetHello(); h != nil {
			h.HostId = host // one host, so state accumulates across inputs
			if herr = srv.checkHello(h); herr == nil {
				r := srv.committer.submit(ctx, &job{host: host, kind: jobHello, hello: h})
				herr = r.err
			}
		} else {
			ss := &session{host: host, logger: srv.logger, pending: &pendingSnapshots{s: srv, buckets: map[uint32][]*plumbv1.Fact{}}}
			_, herr = srv.handle(ctx, ss, &m)
			ss.pending.release()
		}
		after := readHost(t, st, host)
		if srv.pendingTotal.Load() != 0 {
			t.Fatalf("pending snapshot bytes not released: %d", srv.pendingTotal.Load())
		}
		if after == nil {
			return
		}
		if before != nil {
			if after.AppliedSeq < before.AppliedSeq || !fact.SeqWithin(before.AppliedSeq, after.AppliedSeq) {
				t.Fatalf("applied seq moved %d → %d", before.AppliedSeq, after.AppliedSeq)
			}
			if c := status.Code(herr); c == codes.OutOfRange || c == codes.ResourceExhausted {
				if after.AppliedSeq != before.AppliedSeq || after.FactCount != before.FactCount ||
					!bytes.Equal(after.Digest.Sum(), before.Digest.Sum()) {
					t.Fatalf("refused message (%v) changed the host: %+v → %+v", herr, before, after)
				}
			}
		}
		if after.FactCount > l.MaxFactsPerHost {
			t.Fatalf("host holds %d facts, quota %d", after.FactCount, l.MaxFactsPerHost)
		}
		var n uint64
		var d fact.SetDigest
		err := st.View(ctx, func(tx store.ReadTx) error {
			return tx.Facts(host, plumbv1.FactKind_FACT_KIND_UNSPECIFIED, func(f *plumbv1.Fact) error {
				n++
				d.Add(fact.KeyOf(f), f.GetDigest())
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != after.FactCount || !bytes.Equal(d.Sum(), after.Digest.Sum()) {
			t.Fatalf("host record says %d facts, store holds %d (digests equal: %v)", after.FactCount, n, bytes.Equal(d.Sum(), after.Digest.Sum()))
		}
	})
}

func readHost(t *testing.T, st store.Store, id string) *store.Host {
	t.Helper()
	var h *store.Host
	err := st.View(context.Background(), func(tx store.ReadTx) error {
		var err error
		h, err = tx.Host(id)
		return err
	})
	if err != nil && !isNotFound(err) {
		t.Fatal(err)
	}
	return h
}
