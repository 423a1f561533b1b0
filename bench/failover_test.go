package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkFailover times a real agent's failover between two collectors
// on one PostgreSQL database: the agent writes a change every 20 ms; the
// collector it streams to is SIGKILLed; the failover time is from the
// agent's last ack from the killed collector (its "failing over" line's
// last_ack) to its first ack from the other ("first ack from collector").
// The killed one is started again and the next round kills the other.
// The agent runs with its packaged reconnect settings.
func BenchmarkFailover(b *testing.B) {
	rounds := envInt(b, "PLUMB_BENCH_FAILOVER_ROUNDS", 5)
	for range b.N {
		dir := scratch(b, "failover")
		cols := startShared(b, dir, 2, "")
		tree := sub(dir, "tree")
		if err := os.MkdirAll(tree, 0o755); err != nil {
			b.Fatal(err)
		}
		for i := range 100 {
			if err := os.WriteFile(filepath.Join(tree, fmt.Sprintf("f%03d", i)), []byte("v0\n"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		// The agent takes both addresses (comma-separated), as packaged.
		c0 := cols[0]
		ag := &agent{metrics: freeAddr(b)}
		ag.proc = start(b, "agent failover", bin.agent, "--join-token", c0.joinToken, "--ca-pin", c0.caPin,
			"--collector", cols[0].addr+","+cols[1].addr, "--state", sub(dir, "agent"), "--host-id", "failover",
			"--sources", "file", "--watch", tree, "--metrics-listen", ag.metrics, "--log-level", "info")
		c0.awaitBaseline(b, 60*time.Second, "failover", 101)

		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				_ = os.WriteFile(filepath.Join(tree, fmt.Sprintf("f%03d", i%100)), fmt.Appendf(nil, "v%d\n", i+1), 0o644)
			}
		})
		var times []time.Duration
		for range rounds {
			var from, to *collector
			waitFor(b, 60*time.Second, "the agent to stream", func() bool {
				for i, c := range cols {
					if v, err := scrape(ag.metrics, `plumb_agent_collector_connected{address="`+c.addr+`"}`); err == nil && v == 1 {
						from, to = c, cols[1-i]
						return true
					}
				}
				return false
			})
			time.Sleep(500 * time.Millisecond) // acks flowing
			seen := ag.lineCount()
			_ = from.cmd.Process.Kill()
			<-from.done
			lastAck := ag.lastAckBefore(b, seen, from.addr)
			firstAck := ag.awaitLineAfter(b, seen, 60*time.Second, "first ack from collector", "endpoint="+to.addr)
			times = append(times, firstAck.at.Sub(lastAck))
			// Start the killed one again, on its address and data.
			i := slices.Index(cols, from)
			cols[i] = restartCollector(b, from)
		}
		close(stop)
		wg.Wait()

		tab := newTable(fmt.Sprintf("BenchmarkFailover: one agent, two collectors on one PostgreSQL, %d SIGKILLs of the collector it streams to", rounds),
			"failover (last ack from the killed → first ack from the other)", "time")
		for i, d := range times {
			tab.row(fmt.Sprintf("round %d", i+1), millis(d))
		}
		first := times[0]
		slices.Sort(times)
		tab.row("min", millis(times[0]))
		tab.row("median", millis(times[len(times)/2]))
		tab.row("max", millis(times[len(times)-1]))
		tab.note("includes the agent's jittered reconnect backoff (packaged defaults) and its hello/welcome with the other collector;")
		tab.note("the backoff resets only after a session that outlived --reconnect-max (30s), so it grows over these quick rounds")
		tab.print()
		summarize("failover, agent's last ack on a SIGKILLed collector → first ack on the other (PostgreSQL)",
			fmt.Sprintf("first round %s; median of %d rounds %s", millis(first), rounds, millis(times[len(times)/2])),
			"-", "reported (issue 14)")
		b.ReportMetric(float64(times[len(times)/2])/float64(time.Millisecond), "median-failover-ms")
	}
}

// restartCollector starts a stopped collector again on its address, data
// and arguments.
func restartCollector(b *testing.B, c *collector) *collector {
	b.Helper()
	args := c.cmd.Args[1:]
	n := collector{
		proc: start(b, c.name, bin.collector, args...),
		addr: c.addr, metrics: c.metrics, data: c.data, query: c.query,
		insecure: c.insecure, joinToken: c.joinToken, caPin: c.caPin,
	}
	waitFor(b, 20*time.Second, "collector to serve again", func() bool {
		h := n.host("failover")
		return h != nil
	})
	return &n
}

func (p *proc) lineCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// lastAckBefore waits for the agent's "failing over" line from addr after
// line seen, and returns its last_ack.
func (p *proc) lastAckBefore(b *testing.B, seen int, addr string) time.Time {
	b.Helper()
	l := p.awaitLineAfter(b, seen, 60*time.Second, "failing over", "from="+addr)
	t, err := time.Parse(time.RFC3339Nano, logAttr(l.text, "last_ack"))
	if err != nil {
		b.Fatalf("failing over line %q: last_ack: %v", l.text, err)
	}
	return t
}

// awaitLineAfter is awaitLine for lines after the first seen.
func (p *proc) awaitLineAfter(b *testing.B, seen int, d time.Duration, parts ...string) logLine {
	b.Helper()
	deadline := time.Now().Add(d)
	for {
		p.mu.Lock()
		lines := slices.Clone(p.lines[min(seen, len(p.lines)):])
		p.mu.Unlock()
		for _, l := range lines {
			if containsAll(l.text, parts) {
				return l
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: no line with %q within %v; last lines:\n%s", p.name, parts, d, strings.Join(tail(p.output(), 20), "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func tail(s string, n int) []string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[max(0, len(l)-n):]
}
