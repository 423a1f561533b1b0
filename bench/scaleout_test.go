package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/collector/store/pgtest"
)

// BenchmarkIngestScaleOut measures ingest from 100 fake agents (as
// BenchmarkIngest's, TLS as packaged) side by side in one run: one
// collector on bbolt, one collector on PostgreSQL, and two collectors on
// one PostgreSQL database with the agents split between them. PostgreSQL
// is a private cluster (pgtest: fsync on) on the same two cores.
func BenchmarkIngestScaleOut(b *testing.B) {
	agents := envInt(b, "PLUMB_BENCH_INGEST_AGENTS", 100)
	total := envInt(b, "PLUMB_BENCH_SCALEOUT_DELTAS", 100000)
	for range b.N {
		bolt := ingestOn(b, "bbolt", 1, agents, total)
		pg1 := ingestOn(b, "postgres", 1, agents, total)
		pg2 := ingestOn(b, "postgres", 2, agents, total)

		tab := newTable(fmt.Sprintf("BenchmarkIngestScaleOut: %d agents, batches of %d upserts, %d in flight per stream, TLS", agents, ingestBatch, ingestWindow),
			"store", "collectors", "deltas", "time", "deltas/s", "÷ bbolt", "group commit (mean deltas)", "commit (mean)", "collectors' CPU", "collector peak RSS (max)")
		for _, r := range []scaleResult{bolt, pg1, pg2} {
			tab.row(r.store, fmt.Sprint(r.collectors), fmt.Sprint(r.deltas), secs(r.took), fmt.Sprintf("%.0f", r.rate()),
				ratio(r.rate(), bolt.rate()), fmt.Sprintf("%.0f (%.0f commits)", r.commitDeltas/r.commits, r.commits),
				millis(time.Duration(r.commitSeconds/r.commits*float64(time.Second))),
				fmt.Sprintf("%s (%.1f µs/delta)", secs(r.collectorCPU), float64(r.collectorCPU.Microseconds())/float64(r.deltas)),
				mib(float64(r.rss)))
		}
		tab.note("PostgreSQL 15 runs on the same 2 cores (its CPU is not in the collectors' column), fsync and synchronous_commit on")
		tab.note("two collectors: agent i streams to collector i%%2; both commit through one database, whose writer lock orders their transactions")
		tab.print()
		for _, r := range []scaleResult{pg1, pg2} {
			summarize(fmt.Sprintf("collector ingest, %d agents, TLS, PostgreSQL, %d collector(s)", agents, r.collectors),
				fmt.Sprintf("%.0f deltas/s; collectors' CPU %.1f µs/delta", r.rate(), float64(r.collectorCPU.Microseconds())/float64(r.deltas)),
				fmt.Sprintf("bbolt, one collector, same run: %.0f deltas/s", bolt.rate()), "reported side by side (issue 14)")
		}

		b.ReportMetric(bolt.rate(), "bolt-deltas/s")
		b.ReportMetric(pg1.rate(), "pg1-deltas/s")
		b.ReportMetric(pg2.rate(), "pg2-deltas/s")
	}
}

type scaleResult struct {
	ingestResult
	store      string
	collectors int
}

// startShared starts n collectors on one fresh PostgreSQL database, one
// after the other (the first creates the schema and the CA).
func startShared(b *testing.B, dir string, n int, hookURL string, extra ...string) []*collector {
	b.Helper()
	pg := pgtest.Start(b)
	dsn := pg.NewDatabase(b)
	var cols []*collector
	for i := range n {
		cols = append(cols, startCollector(b, sub(dir, fmt.Sprintf("collector%d", i)), hookURL, append([]string{"--store-dsn", dsn}, extra...)...))
	}
	return cols
}

// ingestOn runs fresh collectors on backend and n fake agents, agent i
// streaming to collector i%collectors, sending total deltas between them.
func ingestOn(b *testing.B, backend string, collectors, n, total int) scaleResult {
	b.Helper()
	dir := scratch(b, "scaleout")
	var cols []*collector
	if backend == "postgres" {
		cols = startShared(b, dir, collectors, "")
	} else {
		cols = []*collector{startCollector(b, sub(dir, "collector"), "")}
	}
	batches := max(1, (total/n+ingestBatch-1)/ingestBatch)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fakes := make([]*fakeAgent, n)
	for i := range fakes {
		fakes[i] = dialFake(ctx, b, cols[i%len(cols)], fmt.Sprintf("bench-%d", i))
	}
	metrics := []string{"plumb_collector_group_commit_deltas_sum", "plumb_collector_group_commit_deltas_count", "plumb_collector_group_commit_seconds_sum"}
	sum := func() []float64 {
		out := make([]float64, len(metrics))
		for _, c := range cols {
			v, err := scrapeAll(c.metrics, metrics...)
			if err != nil {
				b.Fatal(err)
			}
			for i := range out {
				out[i] += v[i]
			}
		}
		return out
	}
	cpu := func() time.Duration {
		var t time.Duration
		for _, c := range cols {
			t += c.cpuTime(b)
		}
		return t
	}
	before := sum()
	cpu0, self0 := cpu(), selfCPU(b)
	took := runFakes(b, fakes, batches)
	used, self := cpu()-cpu0, selfCPU(b)-self0
	after := sum()

	perAgent := uint64(batches * ingestBatch)
	for _, c := range cols { // every collector sees every host, whoever committed it
		hosts, err := c.hosts(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(hosts) != n {
			b.Fatalf("collector knows %d hosts, want %d", len(hosts), n)
		}
		for _, h := range hosts {
			if h.GetFactCount() != perAgent || h.GetAppliedSeq() != perAgent {
				b.Fatalf("host %s: %d facts, applied seq %d; want %d", h.GetHostId(), h.GetFactCount(), h.GetAppliedSeq(), perAgent)
			}
		}
	}
	var rss int64
	for _, c := range cols {
		rss = max(rss, c.peakRSS(b))
	}
	for _, f := range fakes {
		f.close()
	}
	for _, c := range cols {
		c.stop()
	}
	return scaleResult{store: backend, collectors: collectors, ingestResult: ingestResult{
		agents: n, deltas: n * int(perAgent), took: took,
		commitDeltas: after[0] - before[0], commits: after[1] - before[1], commitSeconds: after[2] - before[2],
		rss: rss, collectorCPU: used, benchCPU: self,
	}}
}
