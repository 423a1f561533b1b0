package stream

import (
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/state"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// scriptedCollector answers every hello with script(), then reads until
// the agent leaves, counting sessions and bucket snapshots.
type scriptedCollector struct {
	plumbv1.UnimplementedAgentServiceServer
	script func() []*plumbv1.SyncResponse

	mu       sync.Mutex
	sessions int
	buckets  map[uint32]int
}

func (s *scriptedCollector) Sync(st plumbv1.AgentService_SyncServer) error {
	if _, err := st.Recv(); err != nil {
		return err
	}
	s.mu.Lock()
	s.sessions++
	s.mu.Unlock()
	for _, m := range s.script() {
		if err := st.Send(m); err != nil {
			return err
		}
	}
	for {
		m, err := st.Recv()
		if err != nil {
			return err
		}
		if b := m.GetBucket(); b != nil && b.GetFinal() {
			s.mu.Lock()
			s.buckets[b.GetBucket()]++
			s.mu.Unlock()
		}
	}
}

func (s *scriptedCollector) count() (sessions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

func welcome(applied uint64, digests [][]byte) *plumbv1.SyncResponse {
	return &plumbv1.SyncResponse{Msg: &plumbv1.SyncResponse_Welcome{Welcome: &plumbv1.Welcome{AppliedSeq: applied, BucketDigests: digests}}}
}

// A collector that sends out-of-range numbers gets its messages refused:
// the agent neither panics nor adopts them, and keeps retrying.
func TestHostileCollectorMessagesAreRefused(t *testing.T) {
	var empty fact.SetDigest
	tooMany := make([][]byte, 4096)
	for i := range tooMany {
		tooMany[i] = make([]byte, 32)
	}
	cases := []struct {
		name   string
		script func(st state.Status) []*plumbv1.SyncResponse
		// refused before any snapshot is sent
		early bool
	}{
		{"welcome seq 2^64-1", func(state.Status) []*plumbv1.SyncResponse {
			return []*plumbv1.SyncResponse{welcome(math.MaxUint64, nil)}
		}, true},
		{"welcome seq beyond window", func(st state.Status) []*plumbv1.SyncResponse {
			return []*plumbv1.SyncResponse{welcome(st.Seq+fact.SeqWindow+1, nil)}
		}, true},
		{"welcome 4096 bucket digests", func(state.Status) []*plumbv1.SyncResponse {
			return []*plumbv1.SyncResponse{welcome(0, tooMany)}
		}, true},
		{"welcome short bucket digest", func(state.Status) []*plumbv1.SyncResponse {
			d := empty.Buckets()
			d[17] = d[17][:5]
			return []*plumbv1.SyncResponse{welcome(0, d)}
		}, true},
		{"resync bucket 4096", func(st state.Status) []*plumbv1.SyncResponse {
			return []*plumbv1.SyncResponse{welcome(0, nil),
				{Msg: &plumbv1.SyncResponse_Resync{Resync: &plumbv1.ResyncRequest{Buckets: []uint32{4096}}}}}
		}, false},
		{"ack seq 2^64-1", func(st state.Status) []*plumbv1.SyncResponse {
			return []*plumbv1.SyncResponse{welcome(0, nil),
				{Msg: &plumbv1.SyncResponse_Ack{Ack: &plumbv1.Ack{Seq: math.MaxUint64}}}}
		}, false},
		{"ack long digest", func(st state.Status) []*plumbv1.SyncResponse {
			return []*plumbv1.SyncResponse{welcome(0, nil),
				{Msg: &plumbv1.SyncResponse_Ack{Ack: &plumbv1.Ack{Seq: 1, SetDigest: make([]byte, 33)}}}}
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, err := state.Open(t.TempDir(), state.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			apply(t, db, source.Op{Upsert: fileFact("/a", "1")}, source.Op{Upsert: fileFact("/b", "2")})
			before := db.Status()
			sc := &scriptedCollector{buckets: map[uint32]int{}, script: func() []*plumbv1.SyncResponse { return tc.script(before) }}
			addr, stop := serveServer(t, sc)
			defer stop()
			cancel := runClient(t, addr, db)
			waitFor(t, func() bool { return sc.count() >= 3 })
			cancel()
			after := db.Status()
			if after.Seq != before.Seq || after.AckedSeq != before.AckedSeq {
				t.Fatalf("agent took the collector's numbers: seq %d→%d, acked %d→%d", before.Seq, after.Seq, before.AckedSeq, after.AckedSeq)
			}
			sc.mu.Lock()
			defer sc.mu.Unlock()
			if tc.early && len(sc.buckets) > 0 {
				t.Fatalf("agent acted on a refused welcome: sent snapshots of %d buckets", len(sc.buckets))
			}
		})
	}
}

// Duplicate buckets in one resync request are sent once.
func TestResyncDuplicatesIgnored(t *testing.T) {
	db, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	apply(t, db, source.Op{Upsert: fileFact("/a", "1")})
	var empty fact.SetDigest
	sc := &scriptedCollector{buckets: map[uint32]int{}, script: func() []*plumbv1.SyncResponse {
		return []*plumbv1.SyncResponse{welcome(0, empty.Buckets()),
			{Msg: &plumbv1.SyncResponse_Resync{Resync: &plumbv1.ResyncRequest{Buckets: []uint32{9, 9, 9, 9}}}}}
	}}
	addr, stop := serveServer(t, sc)
	defer stop()
	runClient(t, addr, db)
	waitFor(t, func() bool { sc.mu.Lock(); defer sc.mu.Unlock(); return sc.buckets[9] > 0 })
	time.Sleep(100 * time.Millisecond)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.buckets[9] != 1 {
		t.Fatalf("bucket 9 sent %d times for one request naming it 4 times", sc.buckets[9])
	}
}

func TestByBytesSplitsLongKeys(t *testing.T) {
	var ds []*plumbv1.Delta
	for i := range 1000 {
		ds = append(ds, &plumbv1.Delta{Seq: uint64(i + 1), Op: plumbv1.DeltaOp_DELTA_OP_UPSERT,
			Fact: fileFact("/"+strings.Repeat("k", 8000)+string(rune('a'+i%26)), "x")})
	}
	msgs := 0
	for rest := ds; len(rest) > 0; msgs++ {
		part := rest[:byBytes(rest, DefaultBatchBytes)]
		rest = rest[len(part):]
		if n := proto.Size(&plumbv1.DeltaBatch{Deltas: part}); n > DefaultBatchBytes {
			t.Fatalf("message of %d deltas is %d bytes, over %d", len(part), n, DefaultBatchBytes)
		}
	}
	if msgs < 7 {
		t.Fatalf("1000 deltas of 8 KB keys went in %d messages", msgs)
	}
	huge := []*plumbv1.Delta{{Seq: 1, Fact: fileFact(strings.Repeat("x", 2<<20), "x")}, {Seq: 2}}
	if n := byBytes(huge, DefaultBatchBytes); n != 1 {
		t.Fatalf("an item over the limit went with %d items, want alone", n)
	}
}

func serveServer(t *testing.T, srv plumbv1.AgentServiceServer) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	plumbv1.RegisterAgentServiceServer(gs, srv)
	go gs.Serve(ln)
	return ln.Addr().String(), gs.Stop
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCoverageBoundedBeforeSending(t *testing.T) {
	var conds []*plumbv1.CoverageCondition
	for i := range 5000 {
		conds = append(conds, &plumbv1.CoverageCondition{Source: "file", State: plumbv1.CoverageState_COVERAGE_STATE_BLIND,
			Reason: "unreadable", Detail: "/srv/" + strings.Repeat("d", 200) + string(rune('a'+i%26))})
	}
	got := boundCoverage(conds)
	if len(got) > maxCoverageConditions || proto.Size(&plumbv1.Coverage{Conditions: got}) > maxCoverageBytes {
		t.Fatalf("bounded coverage: %d conditions, %d bytes", len(got), proto.Size(&plumbv1.Coverage{Conditions: got}))
	}
	last := got[len(got)-1]
	if last.GetReason() != "coverage_truncated" || last.GetState() != plumbv1.CoverageState_COVERAGE_STATE_BLIND ||
		!strings.Contains(last.GetDetail(), "more") {
		t.Fatalf("summary condition %v", last)
	}
	if few := boundCoverage(conds[:3]); len(few) != 3 {
		t.Fatalf("3 conditions became %d", len(few))
	}
}
