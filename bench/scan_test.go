package bench

import (
	"fmt"
	"testing"
	"time"
)

// scanFiles is the size of the scan benchmarks' tree.
func scanFiles(b *testing.B) int { return envInt(b, "PLUMB_BENCH_FILES", 20000) }

// rounds is how many times the scan benchmarks run every contender; each
// contender's fastest round is reported, which filters out the moments a
// shared machine was busy elsewhere.
func rounds(b *testing.B) int { return envInt(b, "PLUMB_BENCH_ROUNDS", 2) }

// fastest keeps the minimum of the durations it is given.
type fastest time.Duration

func (f *fastest) add(d time.Duration) {
	if *f == 0 || d < time.Duration(*f) {
		*f = fastest(d)
	}
}

func (f fastest) d() time.Duration { return time.Duration(f) }

// BenchmarkInitialScan times a fresh agent from process start until the
// collector holds a fact for every file and directory of a warm tree,
// next to a bare Go walk+hash, `find | xargs -P2 sha256sum` and
// `aide --init` over the same tree.
func BenchmarkInitialScan(b *testing.B) {
	t := getTree(b, mixedSizes, scanFiles(b))
	for range b.N {
		var agentTook, bare, sums, aideInit fastest
		var agentCPU, collectorCPU time.Duration
		var rss int64
		var took string
		ad := newAide(b, t)
		warm(b, t)
		for range rounds(b) {
			bare.add(bareWalkHash(b, t))
			sums.add(sha256sum(b, t))
			if ad.installed() {
				aideInit.add(ad.init(b))
			}

			dir := scratch(b, "initial")
			c := startCollector(b, sub(dir, "collector"), "")
			a := startAgent(b, c, sub(dir, "agent"), "scan", t.dir)
			end := c.awaitFacts(b, 10*time.Minute, "scan", t.facts())
			if d := end.Sub(a.started); agentTook == 0 || d < agentTook.d() {
				agentTook = fastest(d)
				agentCPU, collectorCPU = a.cpuTime(b), c.cpuTime(b)
				took = logAttr(a.awaitLine(b, time.Minute, "initial scan recorded").text, "took")
			}
			// Peak RSS once everything is sent and acknowledged.
			awaitMetric(b, time.Minute, a.metrics, "plumb_agent_spool_deltas", func(v float64) bool { return v == 0 })
			rss = max(rss, a.peakRSS(b))
			a.stop()
			c.stop()
		}

		ag := agentTook.d().Seconds()
		tab := newTable(fmt.Sprintf("BenchmarkInitialScan: %d files + %d dirs, %s, warm page cache, fastest of %d rounds",
			t.files, t.dirs, mib(float64(t.bytes)), rounds(b)), "contender", "time", "÷ bare walk+hash", "plumb is faster by")
		tab.row("plumb-agent start → collector holds every fact", secs(agentTook.d()), ratio(ag, bare.d().Seconds()), "")
		tab.row("  (agent's own log: initial scan recorded took=)", took, "", "")
		tab.row("bare Go walk + SHA-256, 2 workers", secs(bare.d()), "1.00×", ratio(bare.d().Seconds(), ag))
		tab.row("find | xargs -0 -P2 sha256sum", secs(sums.d()), ratio(sums.d().Seconds(), bare.d().Seconds()), ratio(sums.d().Seconds(), ag))
		if ad.installed() {
			tab.row("aide --init (num_workers=2)", secs(aideInit.d()), ratio(aideInit.d().Seconds(), bare.d().Seconds()), ratio(aideInit.d().Seconds(), ag))
		} else {
			tab.note("aide not installed: skipped (scripts/ci-deps.sh installs it)")
		}
		tab.note("agent: peak RSS (VmHWM, all rounds) %s; CPU %s in its fastest round (%s per 1k files); %.0f files/s, %.0f MiB/s",
			mib(float64(rss)), secs(agentCPU), perK(agentCPU, t.facts()), float64(t.files)/ag, float64(t.bytes)/(1<<20)/ag)
		tab.note("collector on the same machine meanwhile: CPU %s (%s per 1k facts)", secs(collectorCPU), perK(collectorCPU, t.facts()))
		tab.print()
		aidePeer := "aide --init: not installed"
		if ad.installed() {
			aidePeer = fmt.Sprintf("aide --init %s", secs(aideInit.d()))
		}
		summarize(fmt.Sprintf("initial scan, %d files, agent start → collector holds every fact", t.files),
			fmt.Sprintf("%s (%s the bare walk+hash); agent CPU %s per 1k files", secs(agentTook.d()), ratio(ag, bare.d().Seconds()), perK(agentCPU, t.facts())),
			fmt.Sprintf("bare Go walk+hash %s; sha256sum -P2 %s; %s", secs(bare.d()), secs(sums.d()), aidePeer),
			"≤ 1.3× bare; faster than aide --init and sha256sum -P2")
		summarize(fmt.Sprintf("  agent peak RSS, %d files", t.files), mib(float64(rss)), "-", "≤ 64 MiB at 100k, ≤ 100 MiB at 1M")

		b.ReportMetric(ag, "agent-s")
		b.ReportMetric(ag/bare.d().Seconds(), "agent/bare")
		b.ReportMetric(sums.d().Seconds()/ag, "sha256sum/agent")
		if ad.installed() {
			b.ReportMetric(aideInit.d().Seconds()/ag, "aide/agent")
		}
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(agentCPU.Seconds()*1000/(float64(t.facts())/1000), "agent-CPU-ms/1k")
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
		a := startAgent(b, c, sub(dir, "agent"), "rescan", t.dir)
		c.awaitBaseline(b, 10*time.Minute, "rescan", t.facts())
		awaitMetric(b, time.Minute, a.metrics, "plumb_agent_spool_deltas", func(v float64) bool { return v == 0 })
		a.stop()
		ad := newAide(b, t)
		if ad.installed() {
			ad.init(b)
		}

		var toScan, toSync, walk, aideCheck fastest
		var took string
		var agentCPU time.Duration
		var changes float64
		for range rounds(b) {
			walk.add(bareLstatWalk(b, t))
			if ad.installed() {
				aideCheck.add(ad.check(b))
			}

			a = startAgent(b, c, sub(dir, "agent"), "rescan", t.dir)
			scanned := a.awaitLine(b, 10*time.Minute, "initial scan recorded")
			synced := a.awaitLine(b, time.Minute, "in sync with collector", fmt.Sprintf("facts=%d", t.facts()))
			n, err := scrape(a.metrics, "plumb_agent_changes_recorded_total")
			if err != nil {
				b.Fatal(err)
			}
			// Nothing changed: at most the checkpoint that closes the scan.
			if n > 1 {
				b.Fatalf("unchanged rescan recorded %v changes, want at most the checkpoint", n)
			}
			changes = max(changes, n)
			toScan.add(scanned.at.Sub(a.started))
			if d := synced.at.Sub(a.started); toSync == 0 || d < toSync.d() {
				toSync = fastest(d)
				took = logAttr(scanned.text, "took")
				agentCPU = a.cpuTime(b)
			}
			a.stop()
		}
		c.stop()

		w := walk.d().Seconds()
		tab := newTable(fmt.Sprintf("BenchmarkRescanUnchanged: %d files + %d dirs, %s, nothing changed, fastest of %d rounds",
			t.files, t.dirs, mib(float64(t.bytes)), rounds(b)), "contender", "time", "÷ bare lstat walk", "plumb is faster by")
		tab.row("plumb-agent restart → initial scan recorded", secs(toScan.d()), ratio(toScan.d().Seconds(), w), "")
		tab.row("  (agent's own log: took=)", took, "", "")
		tab.row("plumb-agent restart → in sync with collector", secs(toSync.d()), ratio(toSync.d().Seconds(), w), "")
		tab.row("bare Go lstat walk", secs(walk.d()), "1.00×", ratio(w, toSync.d().Seconds()))
		if ad.installed() {
			tab.row("aide --check (num_workers=2)", secs(aideCheck.d()), ratio(aideCheck.d().Seconds(), w), ratio(aideCheck.d().Seconds(), toSync.d().Seconds()))
		} else {
			tab.note("aide not installed: skipped (scripts/ci-deps.sh installs it)")
		}
		tab.note("agent: CPU %s in its fastest round (%s per 1k files); deltas recorded by the rescan: %.0f (the checkpoint)",
			secs(agentCPU), perK(agentCPU, t.facts()), changes)
		tab.print()
		aidePeer := "aide --check: not installed"
		if ad.installed() {
			aidePeer = fmt.Sprintf("aide --check %s (%s slower than Plumb)", secs(aideCheck.d()), ratio(aideCheck.d().Seconds(), toSync.d().Seconds()))
		}
		summarize(fmt.Sprintf("unchanged rescan, %d files, agent restart → in sync", t.files),
			fmt.Sprintf("%s (%s the lstat walk); agent CPU %s per 1k files", secs(toSync.d()), ratio(toSync.d().Seconds(), w), perK(agentCPU, t.facts())),
			fmt.Sprintf("bare lstat walk %s; %s", secs(walk.d()), aidePeer),
			"≤ 1.5× lstat walk; ≥ 30× faster than aide --check")

		b.ReportMetric(toSync.d().Seconds(), "agent-s")
		b.ReportMetric(toSync.d().Seconds()/w, "agent/lstat-walk")
		b.ReportMetric(agentCPU.Seconds()*1000/(float64(t.facts())/1000), "agent-CPU-ms/1k")
		if ad.installed() {
			b.ReportMetric(aideCheck.d().Seconds()/toSync.d().Seconds(), "aide/agent")
		}
	}
}

// perK formats CPU time per 1,000 of n, the figure a slow disk cannot
// hide.
func perK(cpu time.Duration, n uint64) string {
	return fmt.Sprintf("%.1f ms", cpu.Seconds()*1000/(float64(n)/1000))
}
