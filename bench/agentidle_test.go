package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkAgentIdle syncs an agent watching a tree of tiny files, lets
// it settle, and then watches it do nothing for PLUMB_BENCH_AGENT_IDLE_SECONDS
// (default 300): its CPU over that window as a share of one core, its
// resident set (highest sample, and at the end, split into anonymous
// memory and mapped files), and its inotify watches against the tree's
// directories: one each, and one anchor on the root's parent (which sees
// the root itself replaced or removed). Targets: RSS ≤ 40 MiB, CPU ≤ 0.5% of a core
// with 100,000 files.
func BenchmarkAgentIdle(b *testing.B) {
	files := envInt(b, "PLUMB_BENCH_AGENT_IDLE_FILES", 100000)
	window := time.Duration(envInt(b, "PLUMB_BENCH_AGENT_IDLE_SECONDS", 300)) * time.Second
	t := getTree(b, tinyFiles, files)
	for range b.N {
		dir := scratch(b, "idle")
		c := startCollector(b, sub(dir, "collector"), "")
		a := startAgent(b, c, sub(dir, "agent"), "idle", t.dir)
		c.awaitBaseline(b, 10*time.Minute, "idle", t.facts())
		awaitMetric(b, time.Minute, a.metrics, "plumb_agent_spool_deltas", func(v float64) bool { return v == 0 })
		// Let the stream's last acknowledgements and the runtime's
		// first background scavenging pass.
		time.Sleep(10 * time.Second)

		watches := inotifyWatches(b, a.proc)
		cpu0, start := a.cpuTime(b), time.Now()
		var peak int64
		for time.Since(start) < window {
			peak = max(peak, procStatus(b, a.proc, "VmRSS"))
			time.Sleep(time.Second)
		}
		cpu := a.cpuTime(b) - cpu0
		took := time.Since(start)
		anon, file := procStatus(b, a.proc, "RssAnon"), procStatus(b, a.proc, "RssFile")
		peak = max(peak, anon+file+procStatus(b, a.proc, "RssShmem"))
		a.stop()
		c.stop()

		share := cpu.Seconds() / took.Seconds()
		tab := newTable(fmt.Sprintf("BenchmarkAgentIdle: %d files + %d dirs watched, synced, idle for %v",
			t.files, t.dirs, took.Round(time.Second)), "figure", "agent", "target")
		tab.row("RSS, highest sample (1/s)", mib(float64(peak)), "≤ 40 MiB")
		tab.row("  at the end: anonymous / mapped files", mib(float64(anon))+" / "+mib(float64(file)), "")
		tab.row("CPU, share of one core", fmt.Sprintf("%.3f%%", 100*share), "≤ 0.5%")
		tab.row("inotify watches, per instance", fmt.Sprintf("%v (directories: %d)", watches, t.dirs),
			"one per directory (+ the root's anchor) in fsnotify's and in the close-write reader's instance")
		tab.print()
		summarize(fmt.Sprintf("agent idle, %d files watched, %v", t.files, took.Round(time.Second)),
			fmt.Sprintf("RSS %s (highest); CPU %.3f%% of a core", mib(float64(peak)), 100*share), "-", "RSS ≤ 40 MiB, CPU ≤ 0.5% of a core")

		// Two instances: fsnotify's (every directory and the root's
		// anchor) and the close-after-write reader's (every directory).
		if len(watches) == 0 || len(watches) > 2 {
			b.Fatalf("agent holds %d inotify instances with watches (%v), want fsnotify's and the close-write reader's", len(watches), watches)
		}
		for _, n := range watches {
			if n != t.dirs && n != t.dirs+1 {
				b.Fatalf("an inotify instance of the agent holds %d watches for %d directories (all: %v), want one each (and the root's anchor)", n, t.dirs, watches)
			}
		}
		b.ReportMetric(float64(peak)/(1<<20), "idle-RSS-MiB")
		b.ReportMetric(100*share, "idle-CPU-%")
	}
}

// procStatus returns a "kB" field of /proc/PID/status in bytes.
func procStatus(b *testing.B, p *proc, field string) int64 {
	b.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
	if err != nil {
		b.Fatalf("%s: read status: %v", p.name, err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field+":" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				b.Fatalf("%s: %s %q: %v", p.name, field, l, err)
			}
			return kb << 10
		}
	}
	b.Fatalf("%s: no %s in /proc/PID/status", p.name, field)
	return 0
}

// inotifyWatches counts the watches on each of the process's inotify
// descriptors, as the kernel lists them in /proc/PID/fdinfo.
func inotifyWatches(b *testing.B, p *proc) []int {
	b.Helper()
	dir := "/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/fdinfo"
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var per []int
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		n := 0
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "inotify wd:") {
				n++
			}
		}
		if n > 0 {
			per = append(per, n)
		}
	}
	slices.Sort(per)
	return per
}
