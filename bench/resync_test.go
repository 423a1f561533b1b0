package bench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
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
