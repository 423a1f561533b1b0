package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// BenchmarkResyncCost puts the collector one fact behind an agent that
// holds a large state, and measures what the repair costs: the collector's
// database is restored from a copy taken before one file changed, so on
// reconnect the set digests differ in exactly one bucket. The bytes the
// agent sends are compared with the bytes of its first, full sync.
func BenchmarkResyncCost(b *testing.B) {
	t := getTree(b, tinyFiles, envInt(b, "PLUMB_BENCH_RESYNC_FILES", 100000))
	for i := range b.N {
		dir := scratch(b, "resync")
		data, state := sub(dir, "collector"), sub(dir, "agent")

		// Full sync: every fact travels once.
		c := startCollector(b, data, "")
		a := startAgent(b, c, state, "resync", t.dir)
		c.awaitBaseline(b, 10*time.Minute, "resync", t.facts())
		awaitMetric(b, time.Minute, a.metrics, "plumb_agent_spool_deltas", func(v float64) bool { return v == 0 })
		fullSync := time.Since(a.started)
		full, err := scrape(a.metrics, "plumb_agent_stream_bytes_sent_total")
		if err != nil {
			b.Fatal(err)
		}
		a.stop()
		c.stop()

		// Keep the collector's database as it is now, then change one file
		// and let the collector record it (a drift opens).
		backup := sub(dir, "collector-backup")
		copyDir(b, data, backup)
		c = startCollector(b, data, "")
		a = startAgent(b, c, state, "resync", t.dir)
		a.awaitLine(b, 10*time.Minute, "in sync with collector")
		changed := filepath.Join(t.dir, "t000", "d00", "f000000.conf")
		if err := os.WriteFile(changed, []byte("# changed by BenchmarkResyncCost "+strconv.Itoa(i)+"\n"), 0o644); err != nil {
			b.Fatal(err)
		}
		waitFor(b, time.Minute, "the change to reach the collector", func() bool {
			h := c.host("resync")
			return h != nil && h.GetOpenDrift() == 1
		})
		awaitMetric(b, time.Minute, a.metrics, "plumb_agent_spool_deltas", func(v float64) bool { return v == 0 })
		a.stop()
		c.stop()

		// The collector forgets the change; the agent must repair it.
		if err := os.RemoveAll(data); err != nil {
			b.Fatal(err)
		}
		copyDir(b, backup, data)
		c = startCollector(b, data, "")
		if h := c.host("resync"); h == nil || h.GetOpenDrift() != 0 {
			b.Fatalf("restored collector: host %v, want no open drift", h)
		}
		a = startAgent(b, c, state, "resync", t.dir)
		line := a.awaitLine(b, 10*time.Minute, "resynced buckets that differed")
		a.awaitLine(b, time.Minute, "in sync with collector", fmt.Sprintf("facts=%d", t.facts()))
		repair := time.Since(a.started)
		session, err := scrape(a.metrics, "plumb_agent_stream_bytes_sent_total")
		if err != nil {
			b.Fatal(err)
		}
		waitFor(b, time.Minute, "the repaired change's drift", func() bool {
			h := c.host("resync")
			return h != nil && h.GetOpenDrift() == 1 && h.GetFactCount() == t.facts()
		})
		a.stop()
		c.stop()

		resyncBytes, _ := strconv.ParseFloat(logAttr(line.text, "bytes"), 64)
		tab := newTable(fmt.Sprintf("BenchmarkResyncCost: agent with %d facts, collector restored to 1 fact behind", t.facts()),
			"what", "bytes sent", "÷ full sync", "detail")
		tab.row("full initial sync (plumb_agent_stream_bytes_sent_total)", fmt.Sprintf("%.0f", full), "1",
			fmt.Sprintf("%s, start → baseline adopted %s", mib(full), secs(fullSync)))
		tab.row("resync: bucket snapshots (agent log)", fmt.Sprintf("%.0f", resyncBytes), fmt.Sprintf("%.5f", resyncBytes/full),
			fmt.Sprintf("buckets=%s facts=%s", logAttr(line.text, "buckets"), logAttr(line.text, "facts")))
		tab.row("resync: whole session (hello + snapshots + checkpoint)", fmt.Sprintf("%.0f", session), fmt.Sprintf("%.5f", session/full),
			fmt.Sprintf("start → in sync %s", secs(repair)))
		tab.note("a full snapshot costs %s the repair", ratio(full, session))
		tab.print()

		b.ReportMetric(full, "full-bytes")
		b.ReportMetric(session, "resync-bytes")
		b.ReportMetric(session/full, "resync/full")
	}
}

// copyDir copies the regular files of src (the collector's data dir is
// flat) into a new dst.
func copyDir(b *testing.B, src, dst string) {
	b.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		b.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			b.Fatal(err)
		}
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// BenchmarkResyncFull times the collector's side of a full resync: a
// host whose every one of the 256 buckets differs sends a snapshot of
// each bucket, 100,000 facts in all, over a real stream, then a
// checkpoint carrying its set digest. The time runs from the first
// snapshot sent until the checkpoint is acknowledged, which the collector
// does only once its set digest for the host equals the agent's (a
// mismatch fails the stream). Twice: for a host the collector has no
// record of (its database lost), then for the same host with one fact
// changed in every bucket (the collector compares all 100,000 it holds,
// and opens 256 drift items).
// The sending side is a fake agent in this process, so the figure is the
// collector's and the wire's, not the agent's rescan.
func BenchmarkResyncFull(b *testing.B) {
	n := envInt(b, "PLUMB_BENCH_RESYNC_FACTS", 100000)
	for range b.N {
		dir := scratch(b, "resync-full")
		c := startCollector(b, sub(dir, "collector"), "")
		tab := newTable(fmt.Sprintf("BenchmarkResyncFull: all %d buckets of a %d-fact host, fake agent over TLS", fact.BucketCount, n),
			"collector held", "first snapshot sent → checkpoint acknowledged", "facts/s", "collector CPU", "collector peak RSS")
		for round, held := range []string{"nothing (database lost)", "every fact, one per bucket stale"} {
			took, cpu := resyncAll(b, c, n, uint64(round))
			tab.row(held, secs(took), fmt.Sprintf("%.0f", float64(n)/took.Seconds()),
				fmt.Sprintf("%s (%.1f µs/fact)", secs(cpu), float64(cpu.Microseconds())/float64(n)), mib(float64(c.peakRSS(b))))
			summarize(fmt.Sprintf("full resync, %d buckets, %d facts; collector held %s", fact.BucketCount, n, held),
				fmt.Sprintf("%s; collector CPU %.1f µs/fact", secs(took), float64(cpu.Microseconds())/float64(n)),
				"", "well under 1 s")
			b.ReportMetric(took.Seconds(), fmt.Sprintf("round%d-s", round))
		}
		c.stop()
		tab.print()
	}
}

// resyncAll sends every bucket of n facts and a checkpoint, as a host
// that had acknowledged seq round, and returns the time until the
// checkpoint is acknowledged and the collector's CPU time meanwhile. In
// round 1, the first fact of each bucket has a new value.
func resyncAll(b *testing.B, c *collector, n int, round uint64) (time.Duration, time.Duration) {
	b.Helper()
	now := time.Now().UnixNano()
	byBucket := make([][]*plumbv1.Fact, fact.BucketCount)
	var digest fact.SetDigest
	for i := range n {
		f := benchFact("resync", i, 1)
		k := fact.KeyOf(f)
		if round > 0 && len(byBucket[k.Bucket()]) == 0 {
			f.GetFile().Size += int64(round) // a new value
			f = fact.Seal(f)
		}
		byBucket[k.Bucket()] = append(byBucket[k.Bucket()], f)
		digest.Add(k, f.GetDigest())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fa := dialFakeAt(ctx, b, c, "resync", round)
	defer fa.close()
	cpu0 := c.cpuTime(b)
	start := time.Now()
	for bk, facts := range byBucket {
		// As the agent does: a bucket in messages of at most 1,000
		// facts, the last one final.
		for i := 0; ; i += 1000 {
			end := min(i+1000, len(facts))
			if err := fa.st.Send(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Bucket{Bucket: &plumbv1.BucketSnapshot{
				Bucket: uint32(bk), Facts: facts[i:end], Final: end == len(facts),
			}}}); err != nil {
				b.Fatalf("send bucket %d: %v", bk, err)
			}
			if end == len(facts) {
				break
			}
		}
	}
	seq := round + 1
	if err := fa.st.Send(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Deltas{Deltas: &plumbv1.DeltaBatch{Deltas: []*plumbv1.Delta{{
		Seq: seq, Op: plumbv1.DeltaOp_DELTA_OP_CHECKPOINT, SetDigest: digest.Sum(), FactCount: uint64(n), ObservedUnixNano: now,
	}}}}}); err != nil {
		b.Fatalf("send checkpoint: %v", err)
	}
	resp, err := fa.st.Recv()
	took := time.Since(start)
	if err != nil {
		b.Fatalf("await the checkpoint's ack: %v", err)
	}
	if resp.GetAck().GetSeq() != seq || !bytes.Equal(resp.GetAck().GetSetDigest(), digest.Sum()) {
		b.Fatalf("want the checkpoint acknowledged with the agent's set digest, got %v", resp)
	}
	cpu := c.cpuTime(b) - cpu0
	if h := c.host("resync"); h.GetFactCount() != uint64(n) {
		b.Fatalf("collector holds %d facts, want %d", h.GetFactCount(), n)
	}
	return took, cpu
}
