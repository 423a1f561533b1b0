package stream

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/endpoint"
	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/state"
)

// node is one collector in front of a database shared with other nodes
// (a fakeCollector): it records the seqs it applied, when, and a stalled
// node takes streams but never commits, like a collector whose database
// is down.
type node struct {
	plumbv1.UnimplementedAgentServiceServer
	db      *fakeCollector
	stalled atomic.Bool

	mu       sync.Mutex
	seqs     []uint64
	lastAck  time.Time
	firstAck time.Time
	sessions int
}

func (n *node) Sync(st plumbv1.AgentService_SyncServer) error {
	n.mu.Lock()
	n.sessions++
	n.mu.Unlock()
	if !n.stalled.Load() {
		return n.db.sync(st, func(seq uint64) {
			n.mu.Lock()
			defer n.mu.Unlock()
			n.seqs = append(n.seqs, seq)
			if n.firstAck.IsZero() {
				n.firstAck = time.Now()
			}
			n.lastAck = time.Now()
		})
	}
	if _, err := st.Recv(); err != nil {
		return err
	}
	n.db.mu.Lock()
	w := &plumbv1.Welcome{AppliedSeq: n.db.applied, BucketDigests: n.db.digest.Buckets(), SetDigest: n.db.digest.Sum()}
	n.db.mu.Unlock()
	if err := st.Send(&plumbv1.SyncResponse{Msg: &plumbv1.SyncResponse_Welcome{Welcome: w}}); err != nil {
		return err
	}
	for {
		if _, err := st.Recv(); err != nil {
			return err
		}
	}
}

func (n *node) applied() ([]uint64, int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.seqs), n.sessions
}

func serveAt(t *testing.T, addr string, srv plumbv1.AgentServiceServer) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	plumbv1.RegisterAgentServiceServer(gs, srv)
	go gs.Serve(ln)
	var once sync.Once
	stop := func() { once.Do(gs.Stop) }
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// writeFacts spools n new facts, a few at a time, as a busy host would.
func writeFacts(t *testing.T, db *state.DB, prefix string, n int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i += 5 {
			var ops []source.Op
			for j := i; j < min(i+5, n); j++ {
				ops = append(ops, source.Op{Upsert: fileFact(fmt.Sprintf("%s/%d", prefix, j), "x")})
			}
			if _, err := db.Apply(ops); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return done
}

// contiguous checks that the nodes together applied 1..last, each seq
// once, the dead node's before the survivor's.
func contiguous(t *testing.T, dead, survivor []uint64, last uint64) {
	t.Helper()
	all := append(slices.Clone(dead), survivor...)
	for i, s := range all {
		if s != uint64(i+1) {
			t.Fatalf("applied seqs not 1..%d in order: position %d holds %d (dead node %d seqs, survivor %d)", last, i, s, len(dead), len(survivor))
		}
	}
	if uint64(len(all)) != last {
		t.Fatalf("applied %d seqs, the agent numbered %d", len(all), last)
	}
}

// Two collectors on one database; the one the agent streams to dies
// mid-stream. The agent fails over to the other, which resumes where the
// database says: every delta arrives once, in order, none lost.
func TestFailoverMidStreamLosesNothing(t *testing.T) {
	shared := newFake()
	nodes := []*node{{db: shared}, {db: shared}}
	var addrs []string
	var stops []func()
	for _, n := range nodes {
		a, stop := serveAt(t, "127.0.0.1:0", n)
		addrs, stops = append(addrs, a), append(stops, stop)
	}
	db, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := NewMetrics(nil)
	runClientOf(t, collectors(t, nil, addrs...), Config{}, db, m)
	const total = 3000
	written := writeFacts(t, db, "/f", total)

	// Kill whichever node the agent streams to once it applied some.
	dead := -1
	waitFor(t, func() bool {
		for i, n := range nodes {
			if s, _ := n.applied(); len(s) >= 300 {
				dead = i
				return true
			}
		}
		return false
	})
	if got := value(m.Collector.WithLabelValues(addrs[dead])); got != 1 {
		t.Fatalf("plumb_agent_collector_connected{address=%q} = %v while streaming to it", addrs[dead], got)
	}
	stops[dead]()
	alive := 1 - dead
	<-written
	waitAgree(t, shared, db)

	deadSeqs, _ := nodes[dead].applied()
	aliveSeqs, _ := nodes[alive].applied()
	if len(aliveSeqs) == 0 || len(deadSeqs) >= total {
		t.Fatalf("the stream never moved: dead node applied %d, survivor %d", len(deadSeqs), len(aliveSeqs))
	}
	contiguous(t, deadSeqs, aliveSeqs, db.Status().Seq)
	if db.Status().Facts != total {
		t.Fatalf("agent holds %d facts, wrote %d", db.Status().Facts, total)
	}
	if a, d := value(m.Collector.WithLabelValues(addrs[alive])), value(m.Collector.WithLabelValues(addrs[dead])); a != 1 || d != 0 {
		t.Fatalf("after failover: connected{survivor}=%v connected{dead}=%v", a, d)
	}
	if n := value(m.Failovers); n < 1 {
		t.Fatalf("plumb_agent_failovers_total = %v after a failover", n)
	}
	nodes[dead].mu.Lock()
	last := nodes[dead].lastAck
	nodes[dead].mu.Unlock()
	nodes[alive].mu.Lock()
	first := nodes[alive].firstAck
	nodes[alive].mu.Unlock()
	t.Logf("failover: dead node applied %d deltas, survivor %d; last apply on the dead node → first on the survivor: %v",
		len(deadSeqs), len(aliveSeqs), first.Sub(last).Round(time.Millisecond))
}

// A collector that is up but never acks (its database down) holds the
// stream open; the ack timeout notices and the agent moves on.
func TestStalledCollectorFailsOverOnAckTimeout(t *testing.T) {
	shared := newFake()
	nodes := []*node{{db: shared}, {db: shared}}
	var addrs []string
	for _, n := range nodes {
		n.stalled.Store(true)
		a, _ := serveAt(t, "127.0.0.1:0", n)
		addrs = append(addrs, a)
	}
	db, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range 50 {
		apply(t, db, source.Op{Upsert: fileFact(fmt.Sprintf("/s/%d", i), "x")})
	}
	m := NewMetrics(nil)
	runClientOf(t, collectors(t, nil, addrs...), Config{AckTimeout: 500 * time.Millisecond}, db, m)
	first := -1
	waitFor(t, func() bool {
		for i, n := range nodes {
			if _, s := n.applied(); s > 0 {
				first = i
				return true
			}
		}
		return false
	})
	// The other node's database is fine.
	nodes[1-first].stalled.Store(false)
	waitAgree(t, shared, db)
	if n := value(m.AckTimeouts); n < 1 {
		t.Fatalf("plumb_agent_ack_timeouts_total = %v", n)
	}
	if s, _ := nodes[1-first].applied(); len(s) != 50 {
		t.Fatalf("healthy node applied %d deltas, want 50", len(s))
	}
}

// An idle stream (nothing in flight) to a collector is not an ack
// timeout.
func TestIdleStreamIsNoAckTimeout(t *testing.T) {
	f := newFake()
	addr, _ := serveAt(t, "127.0.0.1:0", f)
	db, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	apply(t, db, source.Op{Upsert: fileFact("/a", "1")})
	m := NewMetrics(nil)
	runClientOf(t, collectors(t, nil, addr), Config{AckTimeout: 100 * time.Millisecond}, db, m)
	waitAgree(t, f, db)
	time.Sleep(time.Second)
	f.mu.Lock()
	sessions := f.sessions
	f.mu.Unlock()
	if sessions != 1 || value(m.AckTimeouts) != 0 {
		t.Fatalf("idle stream: %d sessions, %v ack timeouts", sessions, value(m.AckTimeouts))
	}
}

// A DNS name is several collectors, resolved at every round: the agent
// streams to the name's one address; the name gains a second; the first
// dies; the agent finds the second by resolving again, and speaks to it
// under the name.
func TestDNSNameFailsOverToAddressAddedLater(t *testing.T) {
	shared := newFake()
	nodes := []*node{{db: shared}, {db: shared}}
	var port string
	var stops [2]func()
	for try := 0; ; try++ {
		a, stop := serveAt(t, "127.0.0.1:0", nodes[0])
		_, port, _ = net.SplitHostPort(a)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.2", port))
		if err == nil {
			ln.Close()
			stops[0] = stop
			break
		}
		stop()
		if try == 20 {
			t.Fatalf("no port free on both 127.0.0.1 and 127.0.0.2: %v", err)
		}
	}
	_, stops[1] = serveAt(t, net.JoinHostPort("127.0.0.2", port), nodes[1])

	var dnsMu sync.Mutex
	answer := []string{"127.0.0.1"}
	lookups := 0
	lookup := func(_ context.Context, host string) ([]string, error) {
		dnsMu.Lock()
		defer dnsMu.Unlock()
		if host != "fleet.test" {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		lookups++
		return slices.Clone(answer), nil
	}
	db, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := NewMetrics(nil)
	name := net.JoinHostPort("fleet.test", port)
	runClientOf(t, collectors(t, lookup, name), Config{}, db, m)
	written := writeFacts(t, db, "/d", 1000)
	waitFor(t, func() bool { s, _ := nodes[0].applied(); return len(s) >= 100 })
	dnsMu.Lock()
	answer = []string{"127.0.0.1", "127.0.0.2"}
	dnsMu.Unlock()
	stops[0]()
	<-written
	waitAgree(t, shared, db)
	s0, _ := nodes[0].applied()
	s1, _ := nodes[1].applied()
	if len(s1) == 0 {
		t.Fatal("the address the name gained never got a delta")
	}
	contiguous(t, s0, s1, db.Status().Seq)
	if got := value(m.Collector.WithLabelValues(name)); got != 1 {
		t.Fatalf("plumb_agent_collector_connected{address=%q} = %v", name, got)
	}
	dnsMu.Lock()
	n := lookups
	dnsMu.Unlock()
	if n < 2 {
		t.Fatalf("the name was resolved %d times; want once per round", n)
	}
}

// value reads a gauge or counter.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}

// The backoff is per round over the list, not per address: dead
// collectors ahead of a live one cost a refused connection each, not a
// backoff wait each.
func TestDeadCollectorsCostNoBackoff(t *testing.T) {
	var addrs []string
	for range 4 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		ln.Close() // refused from now on
	}
	f := newFake()
	live, _ := serveAt(t, "127.0.0.1:0", f)
	addrs = append(addrs, live)
	db, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	apply(t, db, source.Op{Upsert: fileFact("/a", "1")})
	// An agent (a seed) that tries the live collector last.
	var l *endpoint.List
	for seed := uint64(0); ; seed++ {
		var err error
		l, err = endpoint.New(addrs, endpoint.Options{Seed: seed,
			DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}})
		if err != nil {
			t.Fatal(err)
		}
		if eps, _ := l.Endpoints(context.Background()); eps[len(eps)-1].Dial == live {
			break
		}
	}
	start := time.Now()
	runClientOf(t, l, Config{MinBackoff: time.Minute, MaxBackoff: time.Minute}, db, nil)
	waitAgree(t, f, db)
	t.Logf("reached the live collector past dead ones in %v", time.Since(start).Round(time.Millisecond))
}

func TestRotate(t *testing.T) {
	eps := []endpoint.Endpoint{{Dial: "a"}, {Dial: "b"}, {Dial: "c"}}
	for _, tc := range []struct {
		last  string
		again bool
		want  string
	}{
		{"", false, "abc"},
		{"gone", false, "abc"},
		{"a", false, "bca"},
		{"c", false, "abc"},
		{"b", true, "bca"},
		{"a", true, "abc"},
	} {
		var got string
		for _, e := range rotate(eps, tc.last, tc.again) {
			got += e.Dial
		}
		if got != tc.want {
			t.Errorf("rotate(abc, %q, %v) = %s, want %s", tc.last, tc.again, got, tc.want)
		}
	}
}

// A collector that takes connections and says nothing (hung before
// the handshake) is given up after the ack timeout.
func TestSilentCollectorGivenUpAfterAckTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var heldMu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			heldMu.Lock()
			held = append(held, c)
			heldMu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		heldMu.Lock()
		defer heldMu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	silent := ln.Addr().String()
	f := newFake()
	live, _ := serveAt(t, "127.0.0.1:0", f)
	var l *endpoint.List
	for seed := uint64(0); ; seed++ {
		l, err = endpoint.New([]string{silent, live}, endpoint.Options{Seed: seed,
			DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}})
		if err != nil {
			t.Fatal(err)
		}
		if eps, _ := l.Endpoints(context.Background()); eps[0].Dial == silent {
			break
		}
	}
	db, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	apply(t, db, source.Op{Upsert: fileFact("/a", "1")})
	start := time.Now()
	runClientOf(t, l, Config{AckTimeout: 300 * time.Millisecond}, db, nil)
	waitAgree(t, f, db) // 10s: gRPC's own connect timeout is 20s
	t.Logf("past a silent collector in %v", time.Since(start).Round(time.Millisecond))
}
