package bench

import (
	"fmt"
	"testing"
	"time"
)

// scanFiles is the size of the scan benchmarks' tree.
func scanFiles(b *testing.B) int { return envInt(b, "PLUMB_BENCH_FILES", 20000) }

// BenchmarkInitialScan times a fresh agent from process start until the
// collector holds a fact for every file and directory of a warm tree,
// next to a bare Go walk+hash, `find | xargs -P2 sha256sum` and
// `aide --init` over the same tree.
func BenchmarkInitialScan(b *testing.B) {
	t := getTree(b, mixedSizes, scanFiles(b))
	for range b.N {
		warm(b, t)
		bare := bareWalkHash(b, t)
		sums := sha256sum(b, t)
		ad := newAide(b, t)
		var aideInit time.Duration
		if ad.installed() {
			aideInit = ad.init(b)
		}

		dir := scratch(b, "initial")
		c := startCollector(b, sub(dir, "collector"), "")
		a := startAgent(b, c.addr, sub(dir, "agent"), "scan", t.dir)
		end := c.awaitFacts(b, 10*time.Minute, "scan", t.facts())
		agentTook := end.Sub(a.started)
		scanLine := a.awaitLine(b, time.Minute, "initial scan recorded")
		// Peak RSS once everything is sent and acknowledged.
		awaitMetric(b, time.Minute, a.metrics, "plumb_agent_spool_deltas", func(v float64) bool { return v == 0 })
		rss := a.peakRSS(b)
		a.stop()
		c.stop()

		tab := newTable(fmt.Sprintf("BenchmarkInitialScan: %d files + %d dirs, %s, warm page cache",
			t.files, t.dirs, mib(float64(t.bytes))), "contender", "time", "÷ bare walk+hash", "plumb is faster by")
		tab.row("plumb-agent start → collector holds every fact", secs(agentTook), ratio(agentTook.Seconds(), bare.Seconds()), "")
		tab.row("  (agent's own log: initial scan recorded took=)", logAttr(scanLine.text, "took"), "", "")
		tab.row("bare Go walk + SHA-256, 2 workers", secs(bare), "1.00×", ratio(bare.Seconds(), agentTook.Seconds()))
		tab.row("find | xargs -0 -P2 sha256sum", secs(sums), ratio(sums.Seconds(), bare.Seconds()), ratio(sums.Seconds(), agentTook.Seconds()))
		if ad.installed() {
			tab.row("aide --init (num_workers=2)", secs(aideInit), ratio(aideInit.Seconds(), bare.Seconds()), ratio(aideInit.Seconds(), agentTook.Seconds()))
		} else {
			tab.note("aide not installed: skipped (scripts/ci-deps.sh installs it)")
		}
		tab.note("agent peak RSS (VmHWM): %s; throughput %.0f files/s, %.0f MiB/s",
			mib(float64(rss)), float64(t.files)/agentTook.Seconds(), float64(t.bytes)/(1<<20)/agentTook.Seconds())
		tab.print()

		b.ReportMetric(agentTook.Seconds(), "agent-s")
		b.ReportMetric(agentTook.Seconds()/bare.Seconds(), "agent/bare")
		b.ReportMetric(sums.Seconds()/agentTook.Seconds(), "sha256sum/agent")
		if ad.installed() {
			b.ReportMetric(aideInit.Seconds()/agentTook.Seconds(), "aide/agent")
		}
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
	}
}

// BenchmarkRescanUnchanged syncs an agent, stops it, and times its
// restart on the same state over the unchanged tree: until it has
// rescanned and the collector has confirmed the set digest. Peers: a bare
// lstat walk and `aide --check`.
func BenchmarkRescanUnchanged(b *testing.B) {
	t := getTree(b, mixedSizes, scanFiles(b))
	for range b.N {
		warm(b, t)
		dir := scratch(b, "rescan")
		c := startCollector(b, sub(dir, "collector"), "")
		a := startAgent(b, c.addr, sub(dir, "agent"), "rescan", t.dir)
		c.awaitBaseline(b, 10*time.Minute, "rescan", t.facts())
		awaitMetric(b, time.Minute, a.metrics, "plumb_agent_spool_deltas", func(v float64) bool { return v == 0 })
		a.stop()

		walk := bareLstatWalk(b, t)
		ad := newAide(b, t)
		var aideCheck time.Duration
		if ad.installed() {
			ad.init(b)
			aideCheck = ad.check(b)
		}

		a = startAgent(b, c.addr, sub(dir, "agent"), "rescan", t.dir)
		scanned := a.awaitLine(b, 10*time.Minute, "initial scan recorded")
		synced := a.awaitLine(b, time.Minute, "in sync with collector", fmt.Sprintf("facts=%d", t.facts()))
		changes, err := scrape(a.metrics, "plumb_agent_changes_recorded_total")
		if err != nil {
			b.Fatal(err)
		}
		// Nothing changed: at most the checkpoint that closes the scan.
		if changes > 1 {
			b.Fatalf("unchanged rescan recorded %v changes, want at most the checkpoint", changes)
		}
		a.stop()
		c.stop()

		toScan := scanned.at.Sub(a.started)
		toSync := synced.at.Sub(a.started)
		tab := newTable(fmt.Sprintf("BenchmarkRescanUnchanged: %d files + %d dirs, %s, nothing changed",
			t.files, t.dirs, mib(float64(t.bytes))), "contender", "time", "÷ bare lstat walk", "plumb is faster by")
		tab.row("plumb-agent restart → initial scan recorded", secs(toScan), ratio(toScan.Seconds(), walk.Seconds()), "")
		tab.row("  (agent's own log: took=)", logAttr(scanned.text, "took"), "", "")
		tab.row("plumb-agent restart → in sync with collector", secs(toSync), ratio(toSync.Seconds(), walk.Seconds()), "")
		tab.row("bare Go lstat walk", secs(walk), "1.00×", ratio(walk.Seconds(), toSync.Seconds()))
		if ad.installed() {
			tab.row("aide --check (num_workers=2)", secs(aideCheck), ratio(aideCheck.Seconds(), walk.Seconds()), ratio(aideCheck.Seconds(), toSync.Seconds()))
		} else {
			tab.note("aide not installed: skipped (scripts/ci-deps.sh installs it)")
		}
		tab.note("agent deltas recorded by the rescan: %.0f (the checkpoint)", changes)
		tab.print()

		b.ReportMetric(toSync.Seconds(), "agent-s")
		b.ReportMetric(toSync.Seconds()/walk.Seconds(), "agent/lstat-walk")
		if ad.installed() {
			b.ReportMetric(aideCheck.Seconds()/toSync.Seconds(), "aide/agent")
		}
	}
}
