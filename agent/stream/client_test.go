package stream

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/endpoint"
	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/state"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// fakeCollector keeps one host's facts by applying deltas and bucket
// snapshots, like the real one, in memory.
type fakeCollector struct {
	plumbv1.UnimplementedAgentServiceServer

	mu       sync.Mutex
	facts    map[fact.Key]*plumbv1.Fact
	digest   fact.SetDigest
	applied  uint64
	sessions int
	buckets  int // bucket snapshots received
}

func newFake() *fakeCollector { return &fakeCollector{facts: map[fact.Key]*plumbv1.Fact{}} }

func (f *fakeCollector) put(k fact.Key, v *plumbv1.Fact) {
	var old, new []byte
	if o := f.facts[k]; o != nil {
		old = o.GetDigest()
	}
	if v != nil {
		new = v.GetDigest()
		f.facts[k] = v
	} else {
		delete(f.facts, k)
	}
	f.digest.Replace(k, old, new)
}

func (f *fakeCollector) Sync(st plumbv1.AgentService_SyncServer) error { return f.sync(st, nil) }

// sync serves one stream; applied, if not nil, sees each delta's seq as
// it applies it (under f.mu).
func (f *fakeCollector) sync(st plumbv1.AgentService_SyncServer, applied func(seq uint64)) error {
	if _, err := st.Recv(); err != nil {
		return err
	}
	f.mu.Lock()
	f.sessions++
	w := &plumbv1.Welcome{AppliedSeq: f.applied, BucketDigests: f.digest.Buckets(), SetDigest: f.digest.Sum()}
	f.mu.Unlock()
	if err := st.Send(&plumbv1.SyncResponse{Msg: &plumbv1.SyncResponse_Welcome{Welcome: w}}); err != nil {
		return err
	}
	for {
		m, err := st.Recv()
		if err != nil {
			return err
		}
		f.mu.Lock()
		switch msg := m.GetMsg().(type) {
		case *plumbv1.SyncRequest_Deltas:
			for _, d := range msg.Deltas.GetDeltas() {
				if d.GetSeq() <= f.applied {
					continue
				}
				f.applied = d.GetSeq()
				if applied != nil {
					applied(d.GetSeq())
				}
				k := fact.KeyOf(d.GetFact())
				switch d.GetOp() {
				case plumbv1.DeltaOp_DELTA_OP_UPSERT:
					f.put(k, d.GetFact())
				case plumbv1.DeltaOp_DELTA_OP_DELETE:
					f.put(k, nil)
				}
			}
			ack := &plumbv1.Ack{Seq: f.applied, SetDigest: f.digest.Sum()}
			f.mu.Unlock()
			if err := st.Send(&plumbv1.SyncResponse{Msg: &plumbv1.SyncResponse_Ack{Ack: ack}}); err != nil {
				return err
			}
			continue
		case *plumbv1.SyncRequest_Bucket:
			b := msg.Bucket.GetBucket()
			for k := range f.facts {
				if k.Bucket() == b {
					f.put(k, nil)
				}
			}
			for _, v := range msg.Bucket.GetFacts() {
				f.put(fact.KeyOf(v), v)
			}
			f.buckets++
		}
		f.mu.Unlock()
	}
}

func (f *fakeCollector) agrees(db *state.DB) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := db.Status()
	return st.SpoolLen == 0 && fmt.Sprintf("%x", f.digest.Sum()) == fmt.Sprintf("%x", st.Digest)
}

func serve(t *testing.T, f *fakeCollector) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	plumbv1.RegisterAgentServiceServer(gs, f)
	go gs.Serve(ln)
	return ln.Addr().String(), gs.Stop
}

func fileFact(path, content string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte(path),
		Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{Type: plumbv1.FileType_FILE_TYPE_REGULAR, Sha256: []byte(content)}}})
}

func runClient(t *testing.T, addr string, db *state.DB) context.CancelFunc {
	t.Helper()
	return runClientOf(t, collectors(t, nil, addr), Config{}, db, nil)
}

// collectors returns the list of addrs, dialed in plaintext; names
// resolve through lookup.
func collectors(t *testing.T, lookup endpoint.LookupFunc, addrs ...string) *endpoint.List {
	t.Helper()
	l, err := endpoint.New(addrs, endpoint.Options{Lookup: lookup,
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// runClientOf runs a client of l until the test ends; cfg's zero backoff
// bounds become short ones.
func runClientOf(t *testing.T, l Collectors, cfg Config, db *state.DB, m *Metrics) context.CancelFunc {
	t.Helper()
	cfg.HostID = "h"
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := New(l, cfg, db, nil, slog.New(slog.DiscardHandler), m)
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return cancel
}

func waitAgree(t *testing.T, f *fakeCollector, db *state.DB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f.agrees(db) {
		if time.Now().After(deadline) {
			t.Fatalf("collector and agent never agreed: %+v", db.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func apply(t *testing.T, db *state.DB, ops ...source.Op) {
	t.Helper()
	if _, err := db.Apply(ops); err != nil {
		t.Fatal(err)
	}
}

func TestSendsSpoolAndGetsAcked(t *testing.T) {
	f := newFake()
	addr, stop := serve(t, f)
	defer stop()
	db, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ops []source.Op
	for i := range 2500 {
		ops = append(ops, source.Op{Upsert: fileFact(fmt.Sprintf("/f/%d", i), "x")})
	}
	apply(t, db, ops...)
	runClient(t, addr, db)
	waitAgree(t, f, db)
	// Changes after connecting flow too.
	k := fact.Key{Kind: plumbv1.FactKind_FACT_KIND_FILE, ID: "/f/7"}
	apply(t, db, source.Op{Delete: &k}, source.Op{Upsert: fileFact("/f/8", "y")})
	waitAgree(t, f, db)
	if f.buckets != 0 {
		t.Fatalf("%d bucket snapshots for a clean sync", f.buckets)
	}
}

// The collector loses state (restored from an old copy): the handshake
// finds the differing buckets and resyncs only those.
func TestCollectorBehindResyncsOnlyDifferingBuckets(t *testing.T) {
	f := newFake()
	addr, stop := serve(t, f)
	db, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ops []source.Op
	for i := range 1000 {
		ops = append(ops, source.Op{Upsert: fileFact(fmt.Sprintf("/f/%d", i), "x")})
	}
	apply(t, db, ops...)
	cancel := runClient(t, addr, db)
	waitAgree(t, f, db)
	cancel()
	stop()

	// Roll the collector back by one fact: /f/3 goes back to an old value.
	f.mu.Lock()
	old := fileFact("/f/3", "old")
	f.put(fact.KeyOf(old), old)
	f.applied -= 1
	f.mu.Unlock()

	addr2, stop2 := serve(t, f)
	defer stop2()
	runClient(t, addr2, db)
	waitAgree(t, f, db)
	if f.buckets != 1 {
		t.Fatalf("resynced %d buckets, want exactly 1", f.buckets)
	}
}

// The agent's state was lost (new database) while the collector kept the
// host: numbering continues above the collector, and the agent's facts win.
func TestAgentStateLostContinuesAboveCollector(t *testing.T) {
	f := newFake()
	addr, stop := serve(t, f)
	defer stop()
	db1, _ := state.Open(t.TempDir(), state.Options{})
	for i := range 100 {
		apply(t, db1, source.Op{Upsert: fileFact(fmt.Sprintf("/f/%d", i), "x")})
	}
	cancel := runClient(t, addr, db1)
	waitAgree(t, f, db1)
	cancel()
	db1.Close()

	db2, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	for i := range 50 { // half the files are gone now
		apply(t, db2, source.Op{Upsert: fileFact(fmt.Sprintf("/f/%d", i), "x")})
	}
	runClient(t, addr, db2)
	waitAgree(t, f, db2)
	f.mu.Lock()
	n := len(f.facts)
	f.mu.Unlock()
	if n != 50 {
		t.Fatalf("collector holds %d facts, want 50", n)
	}
	apply(t, db2, source.Op{Upsert: fileFact("/f/new", "z")})
	waitAgree(t, f, db2)
}
