package bench

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

const (
	ingestBatch = 500
	// ingestWindow is how many batches a fake agent keeps in flight, as
	// the real agent sends its spool without waiting for each ack.
	ingestWindow = 4
)

// BenchmarkIngest measures a real collector's ingest rate with 100
// concurrent agents, each on its own connection and Sync stream, sending
// batches of 500 upserts; and, for comparison, the same with one agent.
func BenchmarkIngest(b *testing.B) {
	agents := envInt(b, "PLUMB_BENCH_INGEST_AGENTS", 100)
	total := envInt(b, "PLUMB_BENCH_INGEST_DELTAS", 2000000)
	single := envInt(b, "PLUMB_BENCH_INGEST_SINGLE_DELTAS", total/10)
	for range b.N {
		many := ingest(b, agents, total, true)
		manyPlain := ingest(b, agents, total, false)
		one := ingest(b, 1, single, true)
		onePlain := ingest(b, 1, single, false)

		tab := newTable(fmt.Sprintf("BenchmarkIngest: batches of %d upserts, %d in flight per stream", ingestBatch, ingestWindow),
			"agents", "transport", "deltas", "time", "deltas/s", "÷ plaintext", "÷ 1 agent", "group commit (mean deltas)", "commit (mean)", "collector CPU", "fake agents CPU", "collector peak RSS")
		for _, r := range []struct {
			ingestResult
			transport string
			plain     ingestResult
		}{{many, "TLS", manyPlain}, {manyPlain, "plaintext", manyPlain}, {one, "TLS", onePlain}, {onePlain, "plaintext", onePlain}} {
			tab.row(fmt.Sprint(r.agents), r.transport, fmt.Sprint(r.deltas), secs(r.took), fmt.Sprintf("%.0f", r.rate()),
				ratio(r.rate(), r.plain.rate()), ratio(r.rate(), one.rate()), fmt.Sprintf("%.0f (%.0f commits)", r.commitDeltas/r.commits, r.commits),
				millis(time.Duration(r.commitSeconds/r.commits*float64(time.Second))),
				fmt.Sprintf("%s (%.1f µs/delta)", secs(r.collectorCPU), float64(r.collectorCPU.Microseconds())/float64(r.deltas)),
				secs(r.benchCPU), mib(float64(r.rss)))
		}
		tab.note("fake agents run in the benchmark process and share its 2 cores with the collector")
		tab.print()

		summarize(fmt.Sprintf("collector ingest, %d agents, TLS, bbolt", agents),
			fmt.Sprintf("%.0f deltas/s; collector CPU %.1f µs/delta", many.rate(), float64(many.collectorCPU.Microseconds())/float64(many.deltas)),
			fmt.Sprintf("plaintext %.0f deltas/s; 1 agent %.0f deltas/s", manyPlain.rate(), one.rate()),
			"≥ 200,000 deltas/s")
		b.ReportMetric(many.rate(), "deltas/s")
		b.ReportMetric(manyPlain.rate(), "plaintext-deltas/s")
		b.ReportMetric(one.rate(), "1-agent-deltas/s")
		b.ReportMetric(many.commitDeltas/many.commits, "deltas/commit")
	}
}

type ingestResult struct {
	agents, deltas int
	took           time.Duration
	commits        float64 // group commits during the run
	commitDeltas   float64 // deltas in them
	commitSeconds  float64 // time spent in them
	rss            int64   // collector's peak RSS
	collectorCPU   time.Duration
	benchCPU       time.Duration // the fake agents' process
}

func (r ingestResult) rate() float64 { return float64(r.deltas) / r.took.Seconds() }

// ingest runs one fresh collector and n fake agents that send total
// deltas between them (rounded up to whole batches per agent).
func ingest(b *testing.B, n, total int, secure bool) ingestResult {
	b.Helper()
	dir := scratch(b, "ingest")
	var extra []string
	if !secure {
		extra = append(extra, "--insecure")
	}
	c := startCollector(b, sub(dir, "collector"), "", extra...)
	batches := max(1, (total/n+ingestBatch-1)/ingestBatch)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fakes := make([]*fakeAgent, n)
	for i := range fakes {
		fakes[i] = dialFake(ctx, b, c, fmt.Sprintf("bench-%d", i))
	}
	before, err := scrapeAll(c.metrics, "plumb_collector_group_commit_deltas_sum",
		"plumb_collector_group_commit_deltas_count", "plumb_collector_group_commit_seconds_sum")
	if err != nil {
		b.Fatal(err)
	}

	cpu0, self0 := c.cpuTime(b), selfCPU(b)
	took := runFakes(b, fakes, batches)
	cpu, self := c.cpuTime(b)-cpu0, selfCPU(b)-self0

	after, err := scrapeAll(c.metrics, "plumb_collector_group_commit_deltas_sum",
		"plumb_collector_group_commit_deltas_count", "plumb_collector_group_commit_seconds_sum")
	if err != nil {
		b.Fatal(err)
	}
	perAgent := uint64(batches * ingestBatch)
	hosts, err := c.hosts(ctx)
	if err != nil {
		b.Fatal(err)
	}
	got := 0
	for _, h := range hosts {
		if h.GetFactCount() != perAgent || h.GetAppliedSeq() != perAgent {
			b.Fatalf("host %s: %d facts, applied seq %d; want %d", h.GetHostId(), h.GetFactCount(), h.GetAppliedSeq(), perAgent)
		}
		got++
	}
	if got != n {
		b.Fatalf("collector knows %d hosts, want %d", got, n)
	}
	rss := c.peakRSS(b)
	for _, f := range fakes {
		f.close()
	}
	c.stop()
	return ingestResult{
		agents: n, deltas: n * int(perAgent), took: took,
		commitDeltas: after[0] - before[0], commits: after[1] - before[1], commitSeconds: after[2] - before[2],
		rss: rss, collectorCPU: cpu, benchCPU: self,
	}
}

// fakeAgent is one agent's Sync stream, driven by the benchmark.
type fakeAgent struct {
	id   string
	conn *grpc.ClientConn
	st   grpc.BidiStreamingClient[plumbv1.SyncRequest, plumbv1.SyncResponse]
}

// dialFake connects and completes the handshake of a new host.
func dialFake(ctx context.Context, b *testing.B, c *collector, id string) *fakeAgent {
	b.Helper()
	return dialFakeAt(ctx, b, c, id, 0)
}

// dialFakeAt connects and completes the handshake of a host whose deltas
// up to acked the collector has acknowledged.
func dialFakeAt(ctx context.Context, b *testing.B, c *collector, id string, acked uint64) *fakeAgent {
	b.Helper()
	var cert *tls.Certificate
	if !c.insecure {
		cert = c.enroll(b, id)
	}
	conn := c.dial(b, cert, false)
	st, err := plumbv1.NewAgentServiceClient(conn).Sync(ctx)
	if err != nil {
		b.Fatalf("%s: open stream: %v", id, err)
	}
	if err := st.Send(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Hello{Hello: &plumbv1.Hello{
		HostId: id, BucketCount: fact.BucketCount, LastAckedSeq: acked, LastSeq: acked,
	}}}); err != nil {
		b.Fatalf("%s: send hello: %v", id, err)
	}
	resp, err := st.Recv()
	if err != nil {
		b.Fatalf("%s: await welcome: %v", id, err)
	}
	if resp.GetWelcome() == nil || resp.GetWelcome().GetAppliedSeq() != acked {
		b.Fatalf("%s: want a welcome at seq %d, got %v", id, acked, resp)
	}
	return &fakeAgent{id: id, conn: conn, st: st}
}

// run sends batches of upserts, at most ingestWindow unacknowledged, and
// returns when the last is acknowledged.
// runFakes starts every fake agent's batches at once and returns the time
// from the start until the last one's last acknowledgement.
func runFakes(b *testing.B, fakes []*fakeAgent, batches int) time.Duration {
	b.Helper()
	start := make(chan struct{})
	var g errgroup.Group
	var mu sync.Mutex
	var last time.Time
	for _, f := range fakes {
		g.Go(func() error {
			<-start
			end, err := f.run(batches)
			mu.Lock()
			if end.After(last) {
				last = end
			}
			mu.Unlock()
			return err
		})
	}
	first := time.Now()
	close(start)
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	return last.Sub(first)
}

func (f *fakeAgent) run(batches int) (time.Time, error) {
	window := make(chan struct{}, ingestWindow)
	lastSeq := uint64(batches * ingestBatch)
	errc := make(chan error, 1)
	go func() {
		for {
			resp, err := f.st.Recv()
			if err != nil {
				errc <- fmt.Errorf("%s: await ack: %w", f.id, err)
				return
			}
			ack := resp.GetAck()
			if ack == nil {
				errc <- fmt.Errorf("%s: want an ack, got %T", f.id, resp.GetMsg())
				return
			}
			<-window
			if ack.GetSeq() == lastSeq {
				errc <- nil
				return
			}
		}
	}()
	var seq uint64
	for i := range batches {
		window <- struct{}{}
		ds := make([]*plumbv1.Delta, ingestBatch)
		now := time.Now().UnixNano()
		for j := range ds {
			seq++
			ds[j] = &plumbv1.Delta{Seq: seq, Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, ObservedUnixNano: now,
				Fact: benchFact(f.id, i*ingestBatch+j, now)}
		}
		if err := f.st.Send(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Deltas{Deltas: &plumbv1.DeltaBatch{Deltas: ds}}}); err != nil {
			return time.Time{}, fmt.Errorf("%s: send batch %d: %w", f.id, i, err)
		}
	}
	err := <-errc
	return time.Now(), err
}

func (f *fakeAgent) close() {
	_ = f.st.CloseSend()
	f.conn.Close()
}

// benchFact is the sealed file fact /bench/<agent>/<i>, shaped like a
// small config file.
func benchFact(agent string, i int, now int64) *plumbv1.Fact {
	var sum [32]byte
	binary.BigEndian.PutUint64(sum[:], uint64(i))
	copy(sum[8:], agent)
	return fact.Seal(&plumbv1.Fact{
		Kind: plumbv1.FactKind_FACT_KIND_FILE,
		Key:  fmt.Appendf(nil, "/bench/%s/%d", agent, i),
		Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{
			Type: plumbv1.FileType_FILE_TYPE_REGULAR, Mode: 0o644, Size: int64(100 + i%8000), Sha256: sum[:],
			MtimeUnixNano: now, CtimeUnixNano: now, Inode: uint64(1000 + i), Device: 64768,
		}},
		ObservedUnixNano: now,
	})
}
