package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"
)

// TestBurstIsAHandfulOfNotifications: 10,000 files appearing on one host
// reach the webhook as a handful of notifications that together open an
// item for every file on disk, each once — whether they are written one
// by one (an inotify storm over a few seconds) or a directory holding
// them all is moved in (10,000 changes in an instant).
func TestBurstIsAHandfulOfNotifications(t *testing.T) {
	t.Parallel()
	for _, moved := range []bool{false, true} {
		name := map[bool]string{false: "written", true: "moved_in"}[moved]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fileBurst(t, moved)
		})
	}
}

func fileBurst(t *testing.T, moved bool) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHook(t)
	c := startCollector(t, filepath.Join(dir, "collector"), h.srv.URL,
		"--webhook-group", "group_wait=2s", "--webhook-group", "group_interval=5s")
	startAgent(t, c.addr, filepath.Join(dir, "agent"), "burst-1", tree)
	waitBaseline(t, c.addr, "burst-1")

	const files = 10000
	dst := tree
	if moved {
		dst = filepath.Join(dir, "staging")
	}
	start := time.Now()
	for i := range files {
		d := filepath.Join(dst, fmt.Sprintf("d%02d", i%50))
		if i < 50 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		writeFile(t, filepath.Join(d, fmt.Sprintf("f%05d", i)), fmt.Sprintf("burst %d\n", i))
	}
	if moved {
		start = time.Now()
		if err := os.Rename(dst, filepath.Join(tree, "staging")); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d files appeared in %v", files, time.Since(start))

	// The oracle is the disk: every file and directory written.
	want := map[string]bool{}
	err := filepath.WalkDir(tree, func(p string, _ os.DirEntry, err error) error {
		if err == nil && p != tree {
			want[p] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	opened := map[string]int{}
	waitFor(t, 3*time.Minute, "an opened item for every path written", func() bool {
		clear(opened)
		for _, ev := range h.events() {
			if ev.Type == "drift.opened" && ev.Host == "burst-1" {
				opened[ev.Key]++
			}
		}
		return len(opened) >= len(want)
	})
	for p := range want {
		if opened[p] != 1 {
			t.Errorf("%s opened %d times, want 1", p, opened[p])
		}
	}
	time.Sleep(6 * time.Second) // a follow-up would come within a group_interval
	ns := h.notifications()
	var sizes []int
	for _, n := range ns {
		sizes = append(sizes, len(n.Events))
	}
	t.Logf("%d changes (%d paths) -> %d notifications of %v events", files, len(want), len(ns), sizes)
	if len(ns) > 6 {
		t.Fatalf("%d notifications for one burst, want at most a handful (6)", len(ns))
	}
	for _, n := range ns {
		if len(n.Hosts) != 1 || n.Hosts[0].Host != "burst-1" || n.Title == "" {
			t.Errorf("notification %s: hosts %v title %q", n.ID, n.Hosts, n.Title)
		}
	}
}

// TestCriticalIsNotHeldForTheGroupWait: with a long group_wait, a change
// to a critical file is sent within critical_wait of its commit, not held
// for the window; write→notification latency is logged (p50/p99).
func TestCriticalIsNotHeldForTheGroupWait(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "collector.yaml")
	writeFile(t, cfg, "severity:\n  - {kind: file, key: \"**/sudoers*\", severity: critical}\n")
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHook(t)
	const groupWait, criticalWait = 20 * time.Second, time.Second
	c := startCollector(t, filepath.Join(dir, "collector"), h.srv.URL, "--config", cfg,
		"--webhook-group", "group_wait="+groupWait.String(), "--webhook-group", "group_interval=1s",
		"--webhook-group", "critical_wait="+criticalWait.String())
	startAgent(t, c.addr, filepath.Join(dir, "agent"), "crit-1", tree)
	waitBaseline(t, c.addr, "crit-1")

	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 3))
	var lat []time.Duration
	for i := range 12 {
		p := filepath.Join(tree, fmt.Sprintf("sudoers.%d", i))
		// Unrelated info-level noise around it must not hold it either.
		writeFile(t, filepath.Join(tree, fmt.Sprintf("noise.%d", i)), "x\n")
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		written := time.Now()
		writeFile(t, p, "root ALL=(ALL) ALL\n")
		ev := h.await(t, groupWait-2*time.Second, "critical "+p, is("drift.opened", "crit-1", "added", p))
		lat = append(lat, ev.received.Sub(written))
		if ev.Severity != "critical" {
			t.Fatalf("%s: severity %q", p, ev.Severity)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("write→first notification, critical file, group_wait %v critical_wait %v: p50 %v p99 %v (n=%d)",
		groupWait, criticalWait, lat[len(lat)/2], lat[len(lat)-1], len(lat))
}

// TestReceiverDownAcrossRestart: a receiver that is down while drift
// happens, through a collector restart, gets every event once it is back,
// and each notification's idempotency key exactly once.
func TestReceiverDownAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHook(t)
	data := filepath.Join(dir, "collector")
	group := []string{"--webhook-group", "group_wait=500ms", "--webhook-group", "group_interval=1s"}
	c := startCollector(t, data, h.srv.URL, group...)
	agent := startAgent(t, c.addr, filepath.Join(dir, "agent"), "down-1", tree)
	waitBaseline(t, c.addr, "down-1")

	h.setFailing(true)
	var written []string
	for i := range 20 {
		p := filepath.Join(tree, fmt.Sprintf("before.%d", i))
		writeFile(t, p, "x\n")
		written = append(written, p)
		time.Sleep(50 * time.Millisecond)
	}
	waitFor(t, 30*time.Second, "drift for every file written before the restart", func() bool {
		return openDriftCount(t, c.addr, "down-1") >= len(written)
	})
	c.proc.stop()
	c = startCollectorAt(t, c.addr, data, h.srv.URL, group...)
	for i := range 20 {
		p := filepath.Join(tree, fmt.Sprintf("after.%d", i))
		writeFile(t, p, "y\n")
		written = append(written, p)
	}
	waitFor(t, 60*time.Second, "drift for every file written", func() bool {
		return openDriftCount(t, c.addr, "down-1") >= len(written)
	})
	h.setFailing(false)
	waitFor(t, 60*time.Second, "every file's drift.opened at the receiver", func() bool {
		got := map[string]bool{}
		for _, ev := range h.events() {
			if ev.Type == "drift.opened" {
				got[ev.Key] = true
			}
		}
		for _, p := range written {
			if !got[p] {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * time.Second) // anything sent twice would arrive by now
	keys := map[string]int{}
	events := map[string]int{}
	for _, n := range h.notifications() {
		keys[n.webhookID]++
		for _, ev := range n.Events {
			events[ev.ID]++
		}
	}
	for k, n := range keys {
		if n != 1 {
			t.Errorf("notification %s received %d times, want once", k, n)
		}
	}
	for id, n := range events {
		if n != 1 {
			t.Errorf("event %s received %d times, want once", id, n)
		}
	}
	ids := slices.Collect(func(yield func(string) bool) {
		for k := range keys {
			if !yield(k) {
				return
			}
		}
	})
	slices.Sort(ids)
	t.Logf("%d files, %d notifications after the receiver came back: %v", len(written), len(keys), ids)
	alive(t, agent)
}

// openDriftCount is how many open drift items plumbctl lists for host.
func openDriftCount(t *testing.T, addr, host string) int {
	t.Helper()
	var items []struct {
		Key string `json:"key"`
	}
	ctlJSON(t, addr, &items, "drift", "--host", host)
	return len(items)
}
