package ingest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

type rig struct {
	st     *store.Bolt
	client plumbv1.AgentServiceClient
	events chan int
	lm     *limits.Metrics
}

func newRig(t *testing.T) *rig { return newRigWith(t, limits.NewDefaults()) }

// newRigWith serves with limits l and the collector's wire codec.
func newRigWith(t *testing.T, l limits.Limits) *rig {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "plumb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &rig{st: st, events: make(chan int, 100), lm: limits.NewMetrics(nil)}
	srv := New(st, &drift.Engine{}, Options{OnCommit: func(n int) {
		select {
		case r.events <- n:
		default:
		}
	}, Limits: l, LimitMetrics: r.lm})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go srv.Run(ctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(append(l.ServerOptions(), grpc.ForceServerCodecV2(ServerCodec(l, r.lm)))...)
	plumbv1.RegisterAgentServiceServer(gs, srv)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r.client = plumbv1.NewAgentServiceClient(conn)
	return r
}

func hello(host string) *plumbv1.SyncRequest {
	return &plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Hello{Hello: &plumbv1.Hello{HostId: host, BucketCount: fact.BucketCount}}}
}

func upsert(seq uint64, key, content string) *plumbv1.Delta {
	return &plumbv1.Delta{Seq: seq, Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: fact.Seal(&plumbv1.Fact{
		Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte(key),
		Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{Type: plumbv1.FileType_FILE_TYPE_REGULAR, Sha256: []byte(content)}},
	})}
}

func checkpoint(seq uint64, d *fact.SetDigest) *plumbv1.Delta {
	return &plumbv1.Delta{Seq: seq, Op: plumbv1.DeltaOp_DELTA_OP_CHECKPOINT, SetDigest: d.Sum()}
}

func batch(ds ...*plumbv1.Delta) *plumbv1.SyncRequest {
	return &plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Deltas{Deltas: &plumbv1.DeltaBatch{Deltas: ds}}}
}

func (r *rig) open(t *testing.T, host string) (plumbv1.AgentService_SyncClient, *plumbv1.Welcome) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	st, err := r.client.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(hello(host)); err != nil {
		t.Fatal(err)
	}
	m, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if m.GetWelcome() == nil {
		t.Fatalf("first reply %T, want welcome", m.GetMsg())
	}
	return st, m.GetWelcome()
}

func send(t *testing.T, st plumbv1.AgentService_SyncClient, m *plumbv1.SyncRequest) *plumbv1.Ack {
	t.Helper()
	if err := st.Send(m); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAck() == nil {
		t.Fatalf("reply %T, want ack", resp.GetMsg())
	}
	return resp.GetAck()
}

func TestDeltasApplyOnceAndAckAfterCommit(t *testing.T) {
	r := newRig(t)
	st, w := r.open(t, "h1")
	if w.GetAppliedSeq() != 0 || len(w.GetBucketDigests()) != fact.BucketCount {
		t.Fatalf("welcome for a new host: %+v", w)
	}
	var want fact.SetDigest
	a, b := upsert(1, "/a", "1"), upsert(2, "/b", "1")
	want.Add(fact.KeyOf(a.GetFact()), a.GetFact().GetDigest())
	want.Add(fact.KeyOf(b.GetFact()), b.GetFact().GetDigest())
	ack := send(t, st, batch(a, b, checkpoint(3, &want)))
	if ack.GetSeq() != 3 || !bytes.Equal(ack.GetSetDigest(), want.Sum()) {
		t.Fatalf("ack %d %x, want 3 %x", ack.GetSeq(), ack.GetSetDigest(), want.Sum())
	}
	// The acked state is durable: it is in the store now.
	err := r.st.View(context.Background(), func(tx store.ReadTx) error {
		h, err := tx.Host("h1")
		if err != nil {
			return err
		}
		if h.AppliedSeq != 3 || h.FactCount != 2 || !h.HasBaseline {
			return fmt.Errorf("host after ack: %+v", h)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A resend after a lost ack changes nothing and opens no drift.
	changed := upsert(2, "/b", "resent-but-different")
	if ack := send(t, st, batch(changed)); ack.GetSeq() != 3 || !bytes.Equal(ack.GetSetDigest(), want.Sum()) {
		t.Fatalf("duplicate seq was applied: ack %d", ack.GetSeq())
	}
	// A real change opens drift and wakes the notifier.
	for len(r.events) > 0 {
		<-r.events
	}
	send(t, st, batch(upsert(4, "/b", "2")))
	select {
	case n := <-r.events:
		if n != 1 {
			t.Fatalf("%d events, want 1", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no commit notification for a drifting delta")
	}
	// Reconnecting resumes at the applied sequence with the same digest.
	st.CloseSend()
	_, w = r.open(t, "h1")
	if w.GetAppliedSeq() != 4 {
		t.Fatalf("resume at %d, want 4", w.GetAppliedSeq())
	}
}

func TestBucketSnapshotReplacesABucket(t *testing.T) {
	r := newRig(t)
	st, _ := r.open(t, "h2")
	a := upsert(1, "/a", "1")
	var d fact.SetDigest
	d.Add(fact.KeyOf(a.GetFact()), a.GetFact().GetDigest())
	send(t, st, batch(a, checkpoint(2, &d)))
	// Replace /a's bucket with a new value of /a: the collector's digest
	// must follow.
	a2 := upsert(0, "/a", "2").GetFact()
	bk := fact.KeyOf(a2).Bucket()
	if err := st.Send(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Bucket{Bucket: &plumbv1.BucketSnapshot{Bucket: bk, Facts: []*plumbv1.Fact{a2}, Final: true}}}); err != nil {
		t.Fatal(err)
	}
	var want fact.SetDigest
	want.Add(fact.KeyOf(a2), a2.GetDigest())
	deadline := time.Now().Add(5 * time.Second)
	for {
		var got []byte
		r.st.View(context.Background(), func(tx store.ReadTx) error {
			h, err := tx.Host("h2")
			if err == nil {
				got = h.Digest.Sum()
			}
			return err
		})
		if bytes.Equal(got, want.Sum()) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("bucket snapshot not applied")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHostileMessagesAreRejected(t *testing.T) {
	r := newRig(t)
	for _, tc := range []struct {
		name  string
		first *plumbv1.SyncRequest
		then  *plumbv1.SyncRequest
		code  codes.Code
	}{
		{"no hello", batch(upsert(1, "/a", "1")), nil, codes.InvalidArgument},
		{"empty host id", hello(""), nil, codes.InvalidArgument},
		{"bucket count mismatch", &plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Hello{Hello: &plumbv1.Hello{HostId: "x", BucketCount: 7}}}, nil, codes.FailedPrecondition},
		{"decreasing seq", hello("x1"), batch(upsert(5, "/a", "1"), upsert(4, "/b", "1")), codes.InvalidArgument},
		{"fact without digest", hello("x2"), batch(&plumbv1.Delta{Seq: 1, Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: &plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte("/a")}}), codes.InvalidArgument},
		{"unknown op", hello("x3"), batch(&plumbv1.Delta{Seq: 1, Op: 99}), codes.InvalidArgument},
		{"bucket out of range", hello("x4"), &plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Bucket{Bucket: &plumbv1.BucketSnapshot{Bucket: 9999, Final: true}}}, codes.InvalidArgument},
		{"second hello", hello("x5"), hello("x5"), codes.InvalidArgument},
		// Health is the collector's word on a host; an agent may not
		// raise, clear or resync it.
		{"health upsert", hello("x6"), batch(&plumbv1.Delta{Seq: 1, Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: forgedHealth()}), codes.InvalidArgument},
		{"health delete", hello("x7"), batch(&plumbv1.Delta{Seq: 1, Op: plumbv1.DeltaOp_DELTA_OP_DELETE, Fact: &plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_HEALTH, Key: []byte("identity")}}), codes.InvalidArgument},
		{"health in a resync", hello("x8"), &plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Bucket{Bucket: &plumbv1.BucketSnapshot{
			Bucket: fact.KeyOf(forgedHealth()).Bucket(), Facts: []*plumbv1.Fact{forgedHealth()}, Final: true}}}, codes.InvalidArgument},
		// Nor its verdict on a policy rule.
		{"expectation upsert", hello("x9"), batch(&plumbv1.Delta{Seq: 1, Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: forgedExpectation()}), codes.InvalidArgument},
		{"expectation delete", hello("x10"), batch(&plumbv1.Delta{Seq: 1, Op: plumbv1.DeltaOp_DELTA_OP_DELETE, Fact: &plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_EXPECTATION, Key: []byte("web-nginx")}}), codes.InvalidArgument},
		{"expectation in a resync", hello("x11"), &plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Bucket{Bucket: &plumbv1.BucketSnapshot{
			Bucket: fact.KeyOf(forgedExpectation()).Bucket(), Facts: []*plumbv1.Fact{forgedExpectation()}, Final: true}}}, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			st, err := r.client.Sync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			st.Send(tc.first)
			if tc.then != nil {
				if m, err := st.Recv(); err != nil || m.GetWelcome() == nil {
					t.Fatalf("no welcome: %v", err)
				}
				st.Send(tc.then)
			}
			_, err = st.Recv()
			if status.Code(err) != tc.code {
				t.Fatalf("got %v, want %v", err, tc.code)
			}
		})
	}
}

func forgedHealth() *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_HEALTH, Key: []byte("identity"),
		Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: "all is well"}}})
}

func forgedExpectation() *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_EXPECTATION, Key: []byte("web-nginx"),
		Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: "complies"}}})
}

// A full resync, every bucket sent back to back as an agent does, leaves
// the collector holding exactly the agent's facts: the stale values
// replaced, the facts the agent no longer has deleted, the new ones
// added, whichever of the snapshots the committer takes together. The
// checkpoint after them is acknowledged with the agent's set digest.
func TestFullResyncLeavesTheAgentsFacts(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	r := newRig(t)
	st, _ := r.open(t, "h3")
	var ds []*plumbv1.Delta
	var before fact.SetDigest
	for i := range 3000 {
		d := upsert(uint64(i+1), fmt.Sprintf("/etc/f%04d", i), "v0")
		before.Add(fact.KeyOf(d.GetFact()), d.GetFact().GetDigest())
		ds = append(ds, d)
	}
	for i := 0; i < len(ds); i += 500 {
		send(t, st, batch(ds[i:i+500]...))
	}
	send(t, st, batch(checkpoint(3001, &before)))

	// The agent's facts: a third changed, a tenth gone, 500 new.
	agent := map[string]string{}
	for i := range 3000 {
		switch x := rng.IntN(30); {
		case x < 3:
		case x < 13:
			agent[fmt.Sprintf("/etc/f%04d", i)] = "v1"
		default:
			agent[fmt.Sprintf("/etc/f%04d", i)] = "v0"
		}
	}
	for i := range 500 {
		agent[fmt.Sprintf("/srv/new%04d", i)] = "n"
	}
	byBucket := make([][]*plumbv1.Fact, fact.BucketCount)
	var want fact.SetDigest
	for k, v := range agent {
		f := upsert(0, k, v).GetFact()
		byBucket[fact.KeyOf(f).Bucket()] = append(byBucket[fact.KeyOf(f).Bucket()], f)
		want.Add(fact.KeyOf(f), f.GetDigest())
	}
	for b, fs := range byBucket {
		if err := st.Send(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Bucket{Bucket: &plumbv1.BucketSnapshot{
			Bucket: uint32(b), Facts: fs, Final: true}}}); err != nil {
			t.Fatal(err)
		}
	}
	ack := send(t, st, batch(checkpoint(3002, &want)))
	if ack.GetSeq() != 3002 || !bytes.Equal(ack.GetSetDigest(), want.Sum()) {
		t.Fatalf("checkpoint ack %v, want seq 3002 with the agent's set digest", ack)
	}
	held := map[string]string{}
	err := r.st.View(context.Background(), func(tx store.ReadTx) error {
		return tx.Facts("h3", plumbv1.FactKind_FACT_KIND_UNSPECIFIED, func(f *plumbv1.Fact) error {
			held[string(f.GetKey())] = string(f.GetFile().GetSha256())
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != len(agent) {
		t.Fatalf("collector holds %d facts, the agent %d", len(held), len(agent))
	}
	for k, v := range agent {
		if held[k] != v {
			t.Fatalf("%s: collector holds %q, the agent %q", k, held[k], v)
		}
	}
}
