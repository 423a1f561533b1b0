package bench

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// BenchmarkBurst changes 10,000 files of one host within one second, as
// a configuration rollout or an unpacked archive does, with the
// collector's webhook at its default grouping. It times how long after
// the last write the collector holds, for every file, the content now on
// disk (polled through ListFacts and compared with the files themselves),
// and counts the notifications the burst became.
func BenchmarkBurst(b *testing.B) {
	files := envInt(b, "PLUMB_BENCH_BURST_FILES", 10000)
	for range b.N {
		dir := scratch(b, "burst")
		root := sub(dir, "tree")
		paths, _ := smallTree(b, root, files)
		hook := newHookReceiverSized(b, 2*files)
		c := startCollector(b, sub(dir, "collector"), hook.srv.URL) // default grouping
		a := startAgent(b, c, sub(dir, "agent"), "burst", root)
		c.awaitBaseline(b, 5*time.Minute, "burst", uint64(files+(files+filesPerDir-1)/filesPerDir+1))
		posts0 := hook.posts.Load()
		agentCPU0, collectorCPU0 := a.cpuTime(b), c.cpuTime(b)

		start := time.Now()
		for i, p := range paths {
			if i%100 == 0 {
				// Spread over one second, 100 files at a time.
				if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(files))); wait > 0 {
					time.Sleep(wait)
				}
			}
			if err := os.WriteFile(p, fmt.Appendf(nil, "# burst\nvalue = %d\n", i), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		burstEnd := time.Now()
		burst := burstEnd.Sub(start)

		var stale []string
		for {
			stale = differing(b, c, "burst", paths)
			if len(stale) == 0 || time.Since(burstEnd) > time.Minute {
				break
			}
		}
		converged := time.Since(burstEnd)
		if len(stale) > 0 {
			b.Fatalf("a minute after the burst the collector holds other content than the disk for %d files, first %v",
				len(stale), stale[:min(5, len(stale))])
		}
		agentCPU, collectorCPU := a.cpuTime(b)-agentCPU0, c.cpuTime(b)-collectorCPU0

		// Every change opens a drift item; wait for all of them to be
		// notified (the second window waits out group_interval).
		seen := map[string]bool{}
		var stray int
		deadline := time.After(3 * time.Minute)
	wait:
		for len(seen) < files {
			select {
			case ev := <-hook.events:
				if ev.Type == "drift.opened" || ev.Type == "drift.updated" {
					seen[ev.Key] = true
				} else {
					stray++
				}
			case <-deadline:
				break wait
			}
		}
		if len(seen) < files {
			b.Fatalf("3 minutes after the burst, %d of %d changed files were notified", len(seen), files)
		}
		notified := time.Since(burstEnd)
		posts := hook.posts.Load() - posts0

		tab := newTable(fmt.Sprintf("BenchmarkBurst: %d files of one host rewritten in %v, default webhook grouping", files, burst.Round(time.Millisecond)),
			"what", "figure", "detail")
		tab.row("last write → collector holds the disk's content for every file", secs(converged),
			"polled: ListFacts against the files on disk")
		tab.row("agent CPU, burst until converged", secs(agentCPU), fmt.Sprintf("%.0f µs/change", perChange(agentCPU, files)))
		tab.row("collector CPU, burst until converged", secs(collectorCPU), fmt.Sprintf("%.0f µs/change", perChange(collectorCPU, files)))
		tab.row("notifications (webhook POSTs)", fmt.Sprint(posts),
			fmt.Sprintf("carrying %d changed files (+%d other events), the last %s after the burst", len(seen), stray, secs(notified)))
		tab.print()
		summarize(fmt.Sprintf("burst: %d changes in %v → collector equal to the disk", files, burst.Round(10*time.Millisecond)),
			fmt.Sprintf("%s after the last write; %d notifications", secs(converged), posts),
			"", "≤ 5 s; a handful of notifications")
		b.ReportMetric(converged.Seconds(), "converge-s")
		b.ReportMetric(float64(posts), "notifications")
	}
}
