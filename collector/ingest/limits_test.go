package ingest

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// refused sends m and returns the status the stream ends with.
func refused(t *testing.T, st plumbv1.AgentService_SyncClient, m *plumbv1.SyncRequest) *status.Status {
	t.Helper()
	if err := st.Send(m); err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := st.Recv()
		if err != nil {
			return status.Convert(err)
		}
		t.Logf("reply before the end: %v", resp)
	}
}

func (r *rig) host(t *testing.T, id string) *store.Host {
	t.Helper()
	var h *store.Host
	err := r.st.View(context.Background(), func(tx store.ReadTx) error {
		var err error
		h, err = tx.Host(id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// One delta numbered 2^64-1 no longer freezes the host: it is refused
// with its batch, and the real numbering goes on.
func TestSeqBeyondWindowRefused(t *testing.T) {
	r := newRig(t)
	st, _ := r.open(t, "h")
	send(t, st, batch(upsert(1, "/a", "1")))
	s := refused(t, st, batch(upsert(2, "/b", "1"), upsert(math.MaxUint64, "/c", "1")))
	if s.Code() != codes.OutOfRange || !strings.Contains(s.Message(), "seq_window") {
		t.Fatalf("status %v, want OutOfRange naming seq_window", s)
	}
	if h := r.host(t, "h"); h.AppliedSeq != 1 || h.FactCount != 1 {
		t.Fatalf("host after a refused batch: applied %d facts %d, want 1 1", h.AppliedSeq, h.FactCount)
	}
	st, _ = r.open(t, "h")
	if a := send(t, st, batch(upsert(2, "/b", "1"))); a.GetSeq() != 2 {
		t.Fatalf("ack %d after the refusal, want 2", a.GetSeq())
	}
	if got := r.lm.Rejected(limits.SeqWindow); got != 1 {
		t.Fatalf("rejections{seq_window} = %v", got)
	}
}

func TestFactQuotaRefusesWholeBatch(t *testing.T) {
	l := limits.NewDefaults()
	l.MaxFactsPerHost = 3
	r := newRigWith(t, l)
	st, _ := r.open(t, "h")
	send(t, st, batch(upsert(1, "/a", "1"), upsert(2, "/b", "1")))
	// Rewrites and a delete-then-add stay within the quota.
	send(t, st, batch(upsert(3, "/a", "2"), upsert(4, "/c", "1")))
	s := refused(t, st, batch(upsert(5, "/a", "3"), upsert(6, "/d", "1")))
	if s.Code() != codes.ResourceExhausted || !strings.Contains(s.Message(), "facts_per_host") {
		t.Fatalf("status %v, want ResourceExhausted naming facts_per_host", s)
	}
	if h := r.host(t, "h"); h.AppliedSeq != 4 || h.FactCount != 3 {
		t.Fatalf("host after a refused batch: applied %d facts %d, want 4 3", h.AppliedSeq, h.FactCount)
	}
	// Another host is unaffected.
	st2, _ := r.open(t, "other")
	send(t, st2, batch(upsert(1, "/a", "1")))
	st, _ = r.open(t, "h")
	del := &plumbv1.Delta{Seq: 5, Op: plumbv1.DeltaOp_DELTA_OP_DELETE, Fact: upsert(0, "/a", "").GetFact()}
	if a := send(t, st, batch(del, upsert(6, "/d", "1"))); a.GetSeq() != 6 {
		t.Fatalf("a delete then an add at the quota: ack %d, want 6", a.GetSeq())
	}
}

// A message of many empty deltas is refused on the wire, before decoding.
func TestWireCountsRefusedBeforeDecoding(t *testing.T) {
	var inner []byte
	for range 1_000_000 {
		inner = protowire.AppendTag(inner, 1, protowire.BytesType)
		inner = protowire.AppendBytes(inner, nil)
	}
	var raw []byte
	raw = protowire.AppendTag(raw, 2, protowire.BytesType)
	raw = protowire.AppendBytes(raw, inner)
	err := scanSync(raw, capsOf(limits.NewDefaults()))
	if err == nil || !strings.Contains(err.Error(), limits.DeltasPerBatch) {
		t.Fatalf("scan of a million deltas: %v", err)
	}
	// Split over repeated occurrences of the field, they still add up.
	var split []byte
	for range 2 {
		split = protowire.AppendTag(split, 2, protowire.BytesType)
		split = protowire.AppendBytes(split, inner[:len(inner)/100*60])
	}
	if err := scanSync(split, capsOf(limits.NewDefaults())); err == nil {
		t.Fatal("deltas split over two occurrences of the batch field passed")
	}

	r := newRig(t)
	st, _ := r.open(t, "h")
	var ds []*plumbv1.Delta
	for i := range 10001 {
		ds = append(ds, &plumbv1.Delta{Seq: uint64(i + 1)})
	}
	s := refused(t, st, batch(ds...))
	if s.Code() != codes.ResourceExhausted || !strings.Contains(s.Message(), limits.DeltasPerBatch) {
		t.Fatalf("status %v, want ResourceExhausted naming %s", s, limits.DeltasPerBatch)
	}
	if got := r.lm.Rejected(limits.DeltasPerBatch); got != 1 {
		t.Fatalf("rejections{deltas_per_batch} = %v", got)
	}
}

func TestHelloTimeout(t *testing.T) {
	l := limits.NewDefaults()
	l.HelloTimeout = 200 * time.Millisecond
	r := newRigWith(t, l)
	st, err := r.client.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = st.Recv()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("silent stream ended %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("silent stream held %v", d)
	}
}

func TestPendingSnapshotBytesBounded(t *testing.T) {
	l := limits.NewDefaults()
	l.MaxPendingSnapshotBytes = 64 << 10
	l.MaxPendingSnapshotBytesTotal = 100 << 10
	r := newRigWith(t, l)
	bucketOf := func(n int, prefix string) (uint32, []*plumbv1.Fact) {
		// facts of one bucket, about 1 KiB each
		var b uint32 = math.MaxUint32
		var out []*plumbv1.Fact
		for i := 0; len(out) < n; i++ {
			f := upsert(0, fmt.Sprintf("/%s/%s/%d", prefix, strings.Repeat("x", 1000), i), "1").GetFact()
			k := keyBucket(f)
			if b == math.MaxUint32 {
				b = k
			}
			if k == b {
				out = append(out, f)
			}
		}
		return b, out
	}
	snap := func(b uint32, fs []*plumbv1.Fact) *plumbv1.SyncRequest {
		return &plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Bucket{Bucket: &plumbv1.BucketSnapshot{Bucket: b, Facts: fs}}}
	}
	b, fs := bucketOf(40, "a")
	one, _ := r.open(t, "one")
	if err := one.Send(snap(b, fs)); err != nil { // 40 KiB held
		t.Fatal(err)
	}
	two, _ := r.open(t, "two")
	s := refused(t, two, snap(bucketOf(70, "b")))
	if s.Code() != codes.ResourceExhausted || !strings.Contains(s.Message(), limits.PendingSnapshot) {
		t.Fatalf("status %v, want the per-stream limit", s)
	}
	two, _ = r.open(t, "two")
	s = refused(t, two, snap(bucketOf(62, "c")))
	if s.Code() != codes.ResourceExhausted || !strings.Contains(s.Message(), limits.PendingTotal) {
		t.Fatalf("status %v, want the collector-wide limit", s)
	}
	// The first stream's bytes are given back when it ends.
	one.CloseSend()
	for {
		if _, err := one.Recv(); err != nil {
			break
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		three, _ := r.open(t, "three")
		err := three.Send(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Bucket{Bucket: &plumbv1.BucketSnapshot{Bucket: b, Facts: fs[:30], Final: true}}})
		if err != nil {
			t.Fatal(err)
		}
		// Whether applied shows in the host's fact count.
		time.Sleep(50 * time.Millisecond)
		if h := r.host(t, "three"); h.FactCount == 30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bytes of an ended stream were never released")
		}
	}
}

func TestHelloBounds(t *testing.T) {
	r := newRig(t)
	for _, h := range []*plumbv1.Hello{
		{HostId: "web\x001", BucketCount: 256},
		{HostId: "web 1", BucketCount: 256},
		{HostId: "ok", BucketCount: 256, Labels: map[string]string{"k": strings.Repeat("v", 2000)}},
		{HostId: "ok", BucketCount: 256, Info: &plumbv1.HostInfo{Hostname: strings.Repeat("h", 300)}},
	} {
		st, err := r.client.Sync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		s := refused(t, st, &plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Hello{Hello: h}})
		if s.Code() != codes.InvalidArgument {
			t.Errorf("hello %.60v: %v, want InvalidArgument", h, s)
		}
	}
}

func TestCoverageBounded(t *testing.T) {
	r := newRig(t)
	st, _ := r.open(t, "h")
	var conds []*plumbv1.CoverageCondition
	for i := range 600 {
		conds = append(conds, &plumbv1.CoverageCondition{Source: "file", Reason: "unreadable", Detail: fmt.Sprintf("/%0500d", i)})
	}
	s := refused(t, st, &plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Coverage{Coverage: &plumbv1.Coverage{Conditions: conds}}})
	if s.Code() != codes.ResourceExhausted || !strings.Contains(s.Message(), limits.Coverage) {
		t.Fatalf("status %v, want ResourceExhausted naming coverage", s)
	}
	if h := r.host(t, "h"); len(h.Coverage) != 0 {
		t.Fatalf("refused coverage stored: %d conditions", len(h.Coverage))
	}
}

func keyBucket(f *plumbv1.Fact) uint32 { return fact.KeyOf(f).Bucket() }

// A collector that lost its database meets an agent numbering past the
// sequence window: the new host record starts at the agent's acknowledged
// number, so the agent's spool is applied, not refused.
func TestNewHostRecordStartsAtAgentsAckedSeq(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := r.client.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const acked = 5 << 32
	if err := st.Send(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Hello{Hello: &plumbv1.Hello{
		HostId: "old-agent", BucketCount: fact.BucketCount, LastAckedSeq: acked, LastSeq: acked + 2}}}); err != nil {
		t.Fatal(err)
	}
	m, err := st.Recv()
	if err != nil || m.GetWelcome().GetAppliedSeq() != acked {
		t.Fatalf("welcome %v %v, want applied %d", m, err, uint64(acked))
	}
	if a := send(t, st, batch(upsert(acked+1, "/a", "1"), upsert(acked+2, "/b", "1"))); a.GetSeq() != acked+2 {
		t.Fatalf("ack %d, want %d", a.GetSeq(), uint64(acked+2))
	}
	// A known host does not move with its hello.
	st2, w := r.open(t, "old-agent")
	_ = st2
	if w.GetAppliedSeq() != acked+2 {
		t.Fatalf("second welcome applied %d", w.GetAppliedSeq())
	}
}

func TestOversizeMessageCounted(t *testing.T) {
	r := newRig(t)
	st, _ := r.open(t, "h")
	big := upsert(1, "/"+strings.Repeat("k", 8000), "1")
	big.Fact.Attrs.(*plumbv1.Fact_File).File.LinkTarget = []byte(strings.Repeat("x", 5<<20))
	s := refused(t, st, batch(big))
	if s.Code() != codes.ResourceExhausted {
		t.Fatalf("a 5 MiB message: %v, want ResourceExhausted", s)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.lm.Rejected(limits.RecvMsgBytes) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("rejections{recv_msg_bytes} = %v, want 1", r.lm.Rejected(limits.RecvMsgBytes))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
