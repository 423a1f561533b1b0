package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Fault injection: "nothing lost, nothing doubled". Each test makes 10,000
// changes (or a mixed set while the agent is down), breaks something in
// the middle, repairs it, and then asserts with assertConsistent that the
// collector holds exactly the disk's state and that on-call heard of every
// drift transition once.

// The tests run in parallel, two at a time on two cores, except the
// inotify overflow test: the queue limit it lowers is global.

// roundPause spaces the rounds of a burst so that a fault lands while the
// agent is streaming, not after it has caught up.
const roundPause = 150 * time.Millisecond

func TestFaultCollectorKilled(t *testing.T) {
	t.Parallel()
	r := newRig(t, "kill-collector", rigOptions{})
	b := r.tree.burst(0, rounds, roundPause)
	b.after(t, 1)
	spooled, _ := scrape(r.metrics, "plumb_agent_spool_deltas")
	r.col.kill()
	// On-call's receiver stumbles too: the restarted collector's first
	// deliveries fail and are retried.
	r.hook.mu.Lock()
	r.hook.fail = 4
	r.hook.mu.Unlock()
	r.restartCollector(t)
	n := b.wait(t)
	assertConsistent(t, r.want())
	t.Logf("%d changes, collector killed after round 2 of %d with %v deltas unacknowledged", n, rounds, spooled)
}

func TestFaultAgentKilled(t *testing.T) {
	t.Parallel()
	r := newRig(t, "kill-agent", rigOptions{})
	b := r.tree.burst(0, rounds, roundPause)
	b.after(t, 1)
	r.agent.kill()
	r.startAgent(t)
	n := b.wait(t)
	assertConsistent(t, r.want())
	t.Logf("%d changes, agent killed after round 2 of %d", n, rounds)
}

func TestFaultCollectorUnreachable(t *testing.T) {
	t.Parallel()
	r := newRig(t, "collector-down", rigOptions{})
	reconnects := func() float64 {
		v, _ := scrape(r.metrics, "plumb_agent_reconnects_total")
		return v
	}
	before := reconnects()
	b := r.tree.burst(0, rounds, roundPause)
	b.after(t, 1)
	r.col.stop()
	down := time.Now()
	// Down for several times the longest backoff, changes still coming:
	// the agent keeps retrying and spools what it cannot send.
	waitFor(t, 30*time.Second, "the agent to retry past its longest backoff", func() bool {
		return time.Since(down) > 4*reconnectMax && reconnects()-before >= 3
	})
	spooled, err := scrape(r.metrics, "plumb_agent_spool_deltas")
	if err != nil || spooled == 0 {
		t.Fatalf("spool while the collector is down: %v (err %v), want > 0", spooled, err)
	}
	alive(t, r.agent)
	outage := time.Since(down)
	r.restartCollector(t)
	n := b.wait(t)
	assertConsistent(t, r.want())
	t.Logf("%d changes, collector down %v with a %v reconnect backoff, %v deltas spooled meanwhile",
		n, outage.Round(time.Millisecond), reconnectMax, spooled)
}

func TestFaultChangesWhileAgentStopped(t *testing.T) {
	t.Parallel()
	r := newRig(t, "agent-stopped", rigOptions{})
	r.agent.stop()
	p := func(rel string) string { return filepath.Join(r.tree.root, rel) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// create
	writeFile(t, p("d00/created.conf"), "new\n")
	must(os.MkdirAll(p("newdir/deeper"), 0o750))
	writeFile(t, p("newdir/deeper/a"), "a\n")
	// modify
	writeFile(t, p("d01/f0100"), "modified while stopped\n")
	// modify keeping size and mtime: only the ctime and content tell
	old, err := os.Stat(p("d01/f0101"))
	must(err)
	same := []byte(string(r.tree.content(101, 0)))
	same[0] = 'F'
	must(os.WriteFile(p("d01/f0101"), same, 0o644))
	must(os.Chtimes(p("d01/f0101"), old.ModTime(), old.ModTime()))
	// delete a file and a whole directory
	must(os.Remove(p("d02/f0200")))
	must(os.RemoveAll(p("d03")))
	// chmod a file and a directory
	must(os.Chmod(p("d04/f0400"), 0o600))
	must(os.Chmod(p("d05"), 0o700))
	// retarget the symlink; replace a file with a directory
	must(os.Remove(p("link")))
	must(os.Symlink("d04/f0401", p("link")))
	must(os.Remove(p("d06/f0600")))
	must(os.Mkdir(p("d06/f0600"), 0o755))
	// rename
	must(os.Rename(p("d07/f0700"), p("d07/renamed")))

	r.startAgent(t)
	assertConsistent(t, r.want())
}

func TestFaultCollectorRestoredFromOlderCopy(t *testing.T) {
	keepBolt(t) // about the bbolt file in the data directory
	t.Parallel()
	r := newRig(t, "restored", rigOptions{})
	r.tree.burst(0, 2, roundPause).wait(t)
	r.awaitSynced(t)

	// Take the copy with the collector stopped, as a backup would be.
	r.col.stop()
	backup := filepath.Join(r.dir, "collector-backup")
	copyDir(t, r.colData, backup)
	r.restartCollector(t)
	r.tree.burst(2, 4, roundPause).wait(t)
	r.awaitSynced(t)

	// Restore: the collector is now behind the agent.
	r.col.stop()
	if err := os.RemoveAll(r.colData); err != nil {
		t.Fatal(err)
	}
	copyDir(t, backup, r.colData)
	r.restores = append(r.restores, len(r.hook.events()))
	r.restartCollector(t)
	logged(t, r.agent, 90*time.Second, "resynced buckets that differed")
	r.tree.burst(4, rounds, roundPause).wait(t)
	w := r.want()
	w.allowRepairs = true
	assertConsistent(t, w)
}

func TestFaultInotifyOverflow(t *testing.T) {
	r := newRig(t, "overflow", rigOptions{noAgent: true})
	// A queue of 64 events against a burst of 10,000 changes: the kernel
	// drops events and says so; the agent must rescan, loudly.
	restore := lowerInotifyQueue(t, 64)
	r.startAgent(t)
	waitFor(t, 10*time.Second, "the agent's inotify instance", func() bool { return hasInotify(r.agent.cmd.Process.Pid) })
	restore()
	r.awaitBaseline(t)
	n := r.tree.burst(0, rounds, 0).wait(t)
	logged(t, r.agent, 60*time.Second, "inotify queue overflowed")
	assertConsistent(t, r.want())
	t.Logf("%d changes through a 64-event inotify queue", n)
}

func TestFaultAgentDiskFull(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, "agent-state")
	mountTmpfs(t, state, 8<<20)
	r := newRig(t, "agent-disk-full", rigOptions{state: state})
	errs := func() float64 {
		v, _ := scrape(r.metrics, "plumb_agent_state_write_errors_total")
		return v
	}
	n := r.tree.burst(0, 1, 0).wait(t)
	// The disk fills while the collector is away, so the spool must grow
	// into space that is not there: recording stalls (the sources wait),
	// the process stays up.
	r.col.stop()
	filler, size := fill(t, state)
	b := r.tree.burst(1, rounds, roundPause)
	waitFor(t, 60*time.Second, "the agent to fail to record twice", func() bool { return errs() >= 2 })
	alive(t, r.agent)
	// The collector comes back while the disk is still full: the agent
	// may be unable to record its acks, and must not die of it either.
	r.restartCollector(t)
	logged(t, r.col.proc, 60*time.Second, "agent connected")
	alive(t, r.agent)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	n += b.wait(t)
	alive(t, r.agent)
	failed := errs()
	assertConsistent(t, r.want()) // stops the agent at the end
	t.Logf("%d changes; the agent's %d-byte state tmpfs was full (%d-byte filler) for a while, %v failed writes",
		n, 8<<20, size, failed)
}

func TestFaultCollectorDiskFull(t *testing.T) {
	keepBolt(t) // about the bbolt file in the data directory
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "collector-data")
	mountTmpfs(t, data, 64<<20)
	r := newRig(t, "collector-disk-full", rigOptions{colData: data, colMetrics: true})
	commitErrors := func() float64 {
		v, _ := scrape(r.colMetrics, "plumb_collector_commit_errors_total")
		return v
	}
	b := r.tree.burst(0, rounds, roundPause)
	b.after(t, 0)
	filler, size := fill(t, data)
	waitFor(t, 60*time.Second, "the collector to hit the full disk", func() bool { return commitErrors() > 0 })
	alive(t, r.col.proc)
	b.after(t, 2)
	alive(t, r.col.proc)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	n := b.wait(t)
	assertConsistent(t, r.want())
	alive(t, r.col.proc)
	t.Logf("%d changes; the collector's %d-byte data tmpfs was full (%d-byte filler) for a while, %v failed commits",
		n, 64<<20, size, commitErrors())
}

func TestFaultNetworkCut(t *testing.T) {
	t.Parallel()
	cut := newNetCut(t)
	r := newRig(t, "network-cut", rigOptions{cut: cut})
	b := r.tree.burst(0, rounds, roundPause)
	b.after(t, 1)
	cut.cut(t)
	down := time.Now()
	b.after(t, 3)
	// Dropped, not refused: neither side hears a thing until the link
	// is back, for several times the agent's longest backoff.
	for time.Since(down) < 5*reconnectMax {
		time.Sleep(100 * time.Millisecond)
	}
	alive(t, r.agent)
	outage := time.Since(down)
	cut.mend(t)
	n := b.wait(t)
	assertConsistent(t, r.want())
	t.Logf("%d changes; traffic dropped for %v", n, outage.Round(time.Millisecond))
}

func TestFaultRepeatedKills(t *testing.T) {
	t.Parallel()
	r := newRig(t, "kill-again", rigOptions{})
	b := r.tree.burst(0, rounds, roundPause)
	for round, victim := range []string{"collector", "agent", "both", "collector"} {
		b.after(t, round)
		switch victim {
		case "collector":
			r.col.kill()
			r.restartCollector(t)
		case "agent":
			r.agent.kill()
			r.startAgent(t)
		case "both":
			r.agent.kill()
			r.col.kill()
			r.restartCollector(t)
			r.startAgent(t)
		}
	}
	n := b.wait(t)
	assertConsistent(t, r.want())
	t.Logf("%d changes, a SIGKILL after each of the first four rounds", n)
}

func TestFaultAgentKilledDuringInitialScan(t *testing.T) {
	t.Parallel()
	r := newRig(t, "kill-scan", rigOptions{noAgent: true})
	r.startAgent(t)
	// Killed once it has spooled part of its first snapshot, before the
	// checkpoint that makes the baseline.
	waitFor(t, 10*time.Second, "the agent to spool part of its snapshot", func() bool {
		v, err := scrape(r.metrics, "plumb_agent_deltas_spooled_total")
		return err == nil && v > 0
	})
	r.agent.kill()
	if h, err := collectorHost(r.colAddr, r.host); err == nil && h.HasBaseline {
		t.Log("the agent finished its snapshot before the kill; the test proves less")
	}
	r.startAgent(t)
	r.awaitBaseline(t)
	n := r.tree.burst(0, rounds, roundPause).wait(t)
	assertConsistent(t, r.want())
	t.Logf("%d changes after a kill during the initial scan", n)
}

func TestFaultSpoolOverLimit(t *testing.T) {
	t.Parallel()
	// Over the limit by construction, whatever the temp paths: one
	// rewrite of each of 10,000 files spools an upsert per file that,
	// compacted, still holds its base digest, fact digest and content
	// hash (3 × 32 bytes) and its path (over 40 bytes): at least
	// 1,360,000 bytes against a 1 MiB (1,048,576 bytes) limit. The
	// collector has the baseline, so the spool is dropped whole and the
	// next handshake resyncs.
	r := newRig(t, "spool-drop", rigOptions{dirs: 100, spoolMiB: 1})
	r.col.stop()
	n := r.tree.burst(0, 1, 0).wait(t)
	waitFor(t, 60*time.Second, "the agent to compact and drop its spool", func() bool {
		c, _ := scrape(r.metrics, "plumb_agent_spool_compactions_total")
		d, _ := scrape(r.metrics, "plumb_agent_spool_drops_total")
		return c > 0 && d > 0
	})
	alive(t, r.agent)
	r.restartCollector(t)
	logged(t, r.agent, 90*time.Second, "resynced buckets that differed")
	w := r.want()
	w.allowRepairs = true
	assertConsistent(t, w)
	t.Logf("%d changes while the collector was down, through a 1 MiB spool", n)
}

func TestFaultAgentKilledWhileCollectorDown(t *testing.T) {
	t.Parallel()
	// The spool outlives the agent: compacted (1 MiB is less than 10,000
	// deltas) and reopened after a SIGKILL, it must still say exactly
	// what the collector lacks, with no resync needed to cover a mistake.
	r := newRig(t, "kill-offline", rigOptions{spoolMiB: 1})
	r.col.stop()
	b := r.tree.burst(0, rounds, roundPause)
	b.after(t, 2)
	r.agent.kill()
	r.startAgent(t)
	n := b.wait(t)
	waitFor(t, 60*time.Second, "the agent to record the burst", func() bool {
		v, err := scrape(r.metrics, "plumb_agent_spool_deltas")
		return err == nil && v > 0
	})
	r.restartCollector(t)
	assertConsistent(t, r.want())
	compacted := false
	for _, p := range r.procs {
		compacted = compacted || strings.Contains(p.out.String(), "spool over its limit; compacted")
	}
	if !compacted {
		t.Error("the spool never reached its limit; the test proves less than it says")
	}
	t.Logf("%d changes while the collector was down, agent killed after round 3", n)
}
