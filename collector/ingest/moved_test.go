package ingest

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// collectorOn serves ingest on st as one of several collectors sharing it,
// and returns its server and a client.
func collectorOn(t *testing.T, st store.Store) (*Server, *rig) {
	t.Helper()
	srv := New(st, &drift.Engine{}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go srv.Run(ctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	plumbv1.RegisterAgentServiceServer(gs, srv)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return srv, &rig{client: plumbv1.NewAgentServiceClient(conn)}
}

// A host's stream moves from collector A to collector B mid-flight; A's
// stream stays half open and later delivers deltas numbered after what B
// applied. A compare-and-set on the host's AppliedSeq refuses them: A's
// stream ends Aborted ("reconnect and resume"), nothing of its job is
// applied, the refusal is counted, and B's state stands.
func TestStaleStreamOnAnotherCollectorLoses(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "shared.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srvA, a := collectorOn(t, st)
	srvB, b := collectorOn(t, st)

	sa, w := a.open(t, "web-1")
	if w.GetAppliedSeq() != 0 {
		t.Fatalf("welcome at %d", w.GetAppliedSeq())
	}
	if ack := send(t, sa, batch(upsert(1, "/etc/a", "a1"), upsert(2, "/etc/b", "b1"))); ack.GetSeq() != 2 {
		t.Fatalf("ack %d from A, want 2", ack.GetSeq())
	}

	// The agent moves to B (A's stream is still open there) and resends
	// from its last ack.
	sb, w := b.open(t, "web-1")
	if w.GetAppliedSeq() != 2 {
		t.Fatalf("B welcomes at %d, want 2", w.GetAppliedSeq())
	}
	if ack := send(t, sb, batch(upsert(3, "/etc/a", "a2"), upsert(4, "/etc/c", "c1"))); ack.GetSeq() != 4 {
		t.Fatalf("ack %d from B, want 4", ack.GetSeq())
	}

	// The stale stream on A now delivers deltas 5 and 6 of an older
	// numbering (say, from before the agent's spool was rebuilt): without
	// the check they would apply on top of B's.
	if err := sa.Send(batch(upsert(5, "/etc/a", "stale"), upsert(6, "/etc/stale", "x"))); err != nil {
		t.Fatal(err)
	}
	_, err = sa.Recv()
	if status.Code(err) != codes.Aborted {
		t.Fatalf("stale stream ended with %v, want Aborted", err)
	}
	if got := counterValue(t, srvA.metrics.StaleStreams); got != 1 {
		t.Errorf("A stale_streams = %v, want 1", got)
	}
	if got := counterValue(t, srvB.metrics.StaleStreams); got != 0 {
		t.Errorf("B stale_streams = %v, want 0", got)
	}

	err = st.View(context.Background(), func(tx store.ReadTx) error {
		h, err := tx.Host("web-1")
		if err != nil {
			return err
		}
		if h.AppliedSeq != 4 {
			t.Errorf("AppliedSeq %d after the stale job, want 4", h.AppliedSeq)
		}
		f, err := tx.Fact("web-1", fact.Key{Kind: plumbv1.FactKind_FACT_KIND_FILE, ID: "/etc/a"})
		if err != nil {
			return err
		}
		if got := string(f.GetFile().GetSha256()); got != "a2" {
			t.Errorf("/etc/a = %q, want B's a2", got)
		}
		if _, err := tx.Fact("web-1", fact.Key{Kind: plumbv1.FactKind_FACT_KIND_FILE, ID: "/etc/stale"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("/etc/stale from the stale stream: err %v, want not found", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// B's stream is unaffected and goes on.
	if ack := send(t, sb, batch(upsert(5, "/etc/d", "d1"))); ack.GetSeq() != 5 {
		t.Fatalf("ack %d from B after the stale refusal, want 5", ack.GetSeq())
	}
	// The agent reconnecting to A resumes where B left it.
	_, w = a.open(t, "web-1")
	if w.GetAppliedSeq() != 5 {
		t.Fatalf("A welcomes the resumed stream at %d, want 5", w.GetAppliedSeq())
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// A stale stream's resync: consecutive bucket snapshots of one host, which
// the committer replaces together in one run, are refused as a whole when
// the host's AppliedSeq moved under the stream, and nothing of them is
// written; the same run expecting the current AppliedSeq is applied.
func TestStaleBucketRunIsRefused(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "shared.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := New(st, &drift.Engine{}, Options{})
	ctx := context.Background()
	if err := st.Update(ctx, func(tx store.Tx) error {
		return tx.PutHost(&store.Host{ID: "web-1", AppliedSeq: 4, LastSeen: 1})
	}); err != nil {
		t.Fatal(err)
	}
	// Facts in distinct buckets, one snapshot each.
	var jobs []*job
	seen := map[uint32]bool{}
	for i := 0; len(jobs) < 4; i++ {
		f := upsert(0, "/etc/f"+string(rune('a'+i)), "x").GetFact()
		b := fact.KeyOf(f).Bucket()
		if seen[b] {
			continue
		}
		seen[b] = true
		jobs = append(jobs, &job{host: "web-1", kind: jobBucket, bucket: &bucketJob{bucket: b, facts: []*plumbv1.Fact{f}}})
	}
	commit := func(expect uint64) []result {
		var rs []result
		for _, j := range jobs {
			j.expect, j.checked, j.done = expect, true, make(chan result, 1)
		}
		if len(bucketRun(jobs)) != len(jobs) {
			t.Fatalf("the snapshots do not form one run")
		}
		srv.committer.commit(ctx, jobs, len(jobs))
		for _, j := range jobs {
			rs = append(rs, <-j.done)
		}
		return rs
	}
	facts := func() int {
		n := 0
		if err := st.View(ctx, func(tx store.ReadTx) error {
			return tx.Facts("web-1", plumbv1.FactKind_FACT_KIND_UNSPECIFIED, func(*plumbv1.Fact) error { n++; return nil })
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}

	for i, r := range commit(2) {
		if !errors.Is(r.err, errMoved) {
			t.Errorf("stale snapshot %d: err %v, want errMoved", i, r.err)
		}
	}
	if n := facts(); n != 0 {
		t.Fatalf("a stale run wrote %d facts", n)
	}
	for i, r := range commit(4) {
		if r.err != nil {
			t.Errorf("current snapshot %d: %v", i, r.err)
		}
	}
	if n := facts(); n != len(jobs) {
		t.Fatalf("the current run left %d facts, want %d", n, len(jobs))
	}
}
