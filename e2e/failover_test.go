package e2e

import (
	"bufio"
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Two real collectors, each on its own bbolt database, and one agent given
// both (comma-separated). The collector the agent streams to is killed
// with SIGKILL mid-burst: the agent fails over to the other, which ends up
// holding exactly the disk's state. The failover time (the agent's last
// ack from the dead collector to its first ack from the other) is logged.
//
// Both collectors must accept the agent: one CA (so its certificate
// chains) and the agent's enrolled identity in both databases. Each has
// its own database, so the second starts from a copy of the first's data
// dir, made while the agent streams to the first; it then holds an older
// state of the host, which the agent's handshake repairs (a bucket
// resync). Two collectors on one shared database are H3's e2e.
func TestAgentFailsOverBetweenCollectors(t *testing.T) {
	t.Parallel()
	failOver(t, "SIGKILL", func(c *collector) { c.kill() }, nil)
}

// A collector that hangs (SIGSTOP: the kernel still holds its connections
// open, nothing answers) leaves the agent's deltas unacknowledged; the
// ack timeout notices it and the agent fails over.
func TestAgentFailsOverFromHungCollector(t *testing.T) {
	t.Parallel()
	var hung *collector
	metrics := failOver(t, "SIGSTOP", func(c *collector) {
		hung = c
		if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}, []string{"--ack-timeout", "5s"})
	if hung != nil {
		hung.kill()
	}
	if v, err := scrape(metrics, "plumb_agent_ack_timeouts_total"); err != nil || v < 1 {
		t.Fatalf("plumb_agent_ack_timeouts_total = %v, %v after a hung collector", v, err)
	}
}

// failOver runs two collectors and an agent of both, applies fault to the
// collector the agent streams to mid-burst, and checks the other ends up
// with the disk's state. agentArgs are extra agent flags. It returns the
// agent's metrics address.
func failOver(t *testing.T, what string, fault func(*collector), agentArgs []string) string {
	dir := t.TempDir()
	tr := newTree(t, treeDir(t, dir), 20, 100)
	hook := newHook(t)
	data1, data2 := filepath.Join(dir, "collector1"), filepath.Join(dir, "collector2")
	addr1, addr2 := freeAddr(t), freeAddr(t)
	c1 := startCollectorAt(t, addr1, data1, hook.srv.URL)

	// The agent knows both collectors from the start; the second is not
	// up yet (refused: it costs nothing) and enrollment finds the first.
	metrics := freeAddr(t)
	args := append(agentAuthArgs(t, addr1), "--collector", addr1+","+addr2, "--state", filepath.Join(dir, "agent"),
		"--host-id", "failover", "--sources", "file", "--watch", tr.root, "--metrics-listen", metrics,
		"--reconnect-max", reconnectMax.String(), "--log-level", "debug", "--log-format", "json")
	agent := start(t, "agent failover", bin.agent, append(args, agentArgs...)...)
	waitBaseline(t, addr1, "failover")

	// The second collector: a copy of the first's data dir (CA, digest
	// key, admin token, and the database with the agent's identity).
	c1.stop()
	copyDir(t, data1, data2)
	c1 = startCollectorAt(t, addr1, data1, hook.srv.URL)
	c2 := startCollectorAt(t, addr2, data2, hook.srv.URL)
	cols := map[string]*collector{addr1: c1, addr2: c2}

	streamingTo := func() string {
		for a := range cols {
			if v, err := scrape(metrics, `plumb_agent_collector_connected{address="`+a+`"}`); err == nil && v == 1 {
				return a
			}
		}
		return ""
	}
	waitFor(t, 30*time.Second, "the agent to stream to a collector", func() bool { return streamingTo() != "" })

	acked := func() float64 { v, _ := scrape(metrics, "plumb_agent_deltas_acked_total"); return v }
	before := acked()
	b := tr.burst(0, rounds, roundPause)
	b.after(t, 1)
	// The collector streamed to has acked some of the burst: a failover
	// time is measured from its last ack.
	var first string
	waitFor(t, 30*time.Second, "acks of the burst", func() bool {
		first = streamingTo()
		return first != "" && acked() >= before+1000
	})
	survivor := addr1
	if first == addr1 {
		survivor = addr2
	}
	killed := time.Now()
	fault(cols[first])
	n := b.wait(t)

	disk := readDisk(t, tr.root)
	waitFor(t, 90*time.Second, "the surviving collector to hold the tree as on disk", func() bool {
		h, err := collectorHost(survivor, "failover")
		spool, err2 := scrape(metrics, "plumb_agent_spool_deltas")
		return err == nil && err2 == nil && h.SetDigest == disk.setDigest && spool == 0
	})
	if got := streamingTo(); got != survivor {
		t.Fatalf("agent streams to %q, want the survivor %s", got, survivor)
	}
	if v, err := scrape(metrics, `plumb_agent_collector_connected{address="`+first+`"}`); err != nil || v != 0 {
		t.Fatalf("plumb_agent_collector_connected for the dead collector: %v, %v", v, err)
	}
	alive(t, agent)
	alive(t, cols[survivor].proc)

	lastAck, welcome, firstAck := failoverTimes(t, agent.out.String(), first, survivor, killed)
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	t.Logf("%d changes; %s to collector %s mid-burst; failover (agent's last ack from it → first ack from %s): %v "+
		"(→ streaming to the survivor %v, then its bucket resync of the older copy and first commit %v); kill → first ack: %v",
		n, what, first, survivor, ms(firstAck.Sub(lastAck)), ms(welcome.Sub(lastAck)), ms(firstAck.Sub(welcome)), ms(firstAck.Sub(killed)))
	return metrics
}

// failoverTimes reads the agent's JSON log: the last ack from dead, as
// its "failing over" line after the kill says, then when it streamed to
// survivor (welcome accepted) and its first ack from survivor.
func failoverTimes(t *testing.T, log, dead, survivor string, killed time.Time) (last, welcome, first time.Time) {
	t.Helper()
	for _, l := range agentLog(log) {
		if l.Time.Before(killed.Add(-time.Second)) {
			continue
		}
		switch {
		case l.Msg == "failing over" && l.From == dead && last.IsZero():
			if last, _ = time.Parse(time.RFC3339Nano, l.LastAck); last.IsZero() {
				t.Fatalf("the agent failed over from %s with no ack from it (last_ack %q)", dead, l.LastAck)
			}
		case l.Msg == "streaming to collector" && l.Endpoint == survivor && !last.IsZero() && welcome.IsZero():
			welcome = l.Time
		case l.Msg == "first ack from collector" && l.Endpoint == survivor && !welcome.IsZero() && first.IsZero():
			first = l.Time
		}
	}
	if last.IsZero() || welcome.IsZero() || first.IsZero() {
		t.Fatalf("agent log lacks a 'failing over' from %s (last ack %v), or then 'streaming to collector' (%v) and 'first ack from collector' (%v) from %s",
			dead, last, welcome, first, survivor)
	}
	if first.Before(last) {
		t.Fatalf("first ack from the survivor %v before the last from the dead collector %v", first, last)
	}
	return last, welcome, first
}

// logLine is the part of an agent's JSON log line these tests read.
type logLine struct {
	Time     time.Time `json:"time"`
	Msg      string    `json:"msg"`
	From     string    `json:"from"`
	LastAck  string    `json:"last_ack"`
	Endpoint string    `json:"endpoint"`
}

// agentLog parses an agent's JSON log, skipping lines that are not JSON.
func agentLog(log string) []logLine {
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}
