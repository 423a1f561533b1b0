package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// BenchmarkIdleAgents connects 5,000 agents to one collector, each an
// enrolled host with its own TLS connection and Sync stream (hello,
// welcome, then nothing), all from this process over loopback, and
// reports what holding them costs the collector: its resident memory and
// its CPU over an idle minute. The collector must list every one of them
// as connected.
func BenchmarkIdleAgents(b *testing.B) {
	n := envInt(b, "PLUMB_BENCH_IDLE_AGENTS", 5000)
	idle := time.Duration(envInt(b, "PLUMB_BENCH_IDLE_SECONDS", 60)) * time.Second
	// Each agent is a socket here and one in the collector (which
	// inherits the limit).
	raiseNoFile(b, uint64(n)+1024)
	for range b.N {
		dir := scratch(b, "idle")
		c := startCollector(b, sub(dir, "collector"), "")
		rss0 := c.rss(b)
		ctx, cancel := context.WithCancel(context.Background())
		if _, err := c.tryEnroll(b, hostName(0)); err != nil { // opens the enroll connection
			b.Fatal(err)
		}
		cpu0 := c.cpuTime(b)
		start := time.Now()
		streams := make([]grpc.BidiStreamingClient[plumbv1.SyncRequest, plumbv1.SyncResponse], n)
		var done atomic.Int64
		var g errgroup.Group
		g.SetLimit(16)
		for i := range n {
			g.Go(func() error {
				st, err := idleAgent(ctx, b, c, hostName(i))
				streams[i] = st
				done.Add(1)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		connectTook, connectCPU := time.Since(start), c.cpuTime(b)-cpu0

		waitFor(b, time.Minute, "every agent listed as connected", func() bool {
			return connectedHosts(c) == n
		})
		rssConnected := c.rss(b)
		cpu1 := c.cpuTime(b)
		time.Sleep(idle)
		idleCPU := c.cpuTime(b) - cpu1
		rssIdle := c.rss(b)
		rt, err := scrapeAll(c.metrics, "go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes")
		if err != nil {
			b.Fatal(err)
		}
		if got := connectedHosts(c); got != n {
			b.Fatalf("after %v idle, %d of %d agents are connected", idle, got, n)
		}
		benchRSS := selfRSS(b)
		cancel()
		c.stop()

		share := idleCPU.Seconds() / idle.Seconds()
		tab := newTable(fmt.Sprintf("BenchmarkIdleAgents: %d agents, each its own TLS connection and Sync stream, loopback", n),
			"what", "figure", "per agent")
		tab.row("enroll + connect all (16 at a time)", secs(connectTook),
			fmt.Sprintf("collector CPU %s, %.2f ms per agent", secs(connectCPU), float64(connectCPU.Microseconds())/1000/float64(n)))
		tab.row("collector RSS before any agent", mib(float64(rss0)), "")
		tab.row("collector RSS, all connected", mib(float64(rssConnected)),
			fmt.Sprintf("%.1f KiB", float64(rssConnected-rss0)/1024/float64(n)))
		tab.row(fmt.Sprintf("collector RSS after %v idle", idle), mib(float64(rssIdle)),
			fmt.Sprintf("%.1f KiB", float64(rssIdle-rss0)/1024/float64(n)))
		tab.row(fmt.Sprintf("collector CPU over %v idle", idle), fmt.Sprintf("%s (%.2f%% of a core)", secs(idleCPU), 100*share),
			fmt.Sprintf("%.1f µs/s", float64(idleCPU.Microseconds())/idle.Seconds()/float64(n)))
		tab.row("collector Go heap in use / goroutine stacks", fmt.Sprintf("%s / %s", mib(rt[1]), mib(rt[2])),
			fmt.Sprintf("%.1f / %.1f KiB; %.1f goroutines", rt[1]/1024/float64(n), rt[2]/1024/float64(n), rt[0]/float64(n)))
		tab.note("the fake agents' process held %s", mib(float64(benchRSS)))
		tab.print()
		summarize(fmt.Sprintf("%d connected idle agents, collector", n),
			fmt.Sprintf("RSS %s (%.1f KiB/agent); CPU %.2f%% of a core idle", mib(float64(rssIdle)),
				float64(rssIdle-rss0)/1024/float64(n), 100*share),
			fmt.Sprintf("collector with no agent: %s", mib(float64(rss0))), "5,000 connected (RSS, CPU reported)")
		b.ReportMetric(float64(rssIdle)/(1<<20), "collector-MiB")
		b.ReportMetric(100*share, "idle-cpu-%")
	}
}

// idleAgent enrolls host, opens its Sync stream and completes the
// handshake, then leaves the stream open and silent.
func idleAgent(ctx context.Context, b *testing.B, c *collector, host string) (grpc.BidiStreamingClient[plumbv1.SyncRequest, plumbv1.SyncResponse], error) {
	cert, err := c.tryEnroll(b, host)
	if err != nil {
		return nil, err
	}
	conn, err := c.tryDial(b, cert, false)
	if err != nil {
		return nil, err
	}
	st, err := plumbv1.NewAgentServiceClient(conn).Sync(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: open stream: %w", host, err)
	}
	if err := st.Send(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Hello{Hello: &plumbv1.Hello{
		HostId: host, BucketCount: fact.BucketCount,
	}}}); err != nil {
		return nil, fmt.Errorf("%s: send hello: %w", host, err)
	}
	resp, err := st.Recv()
	if err != nil {
		return nil, fmt.Errorf("%s: await welcome: %w", host, err)
	}
	if resp.GetWelcome() == nil {
		return nil, fmt.Errorf("%s: want a welcome, got %v", host, resp)
	}
	return st, nil
}

// connectedHosts counts the hosts the collector lists as connected.
func connectedHosts(c *collector) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hosts, err := c.hosts(ctx)
	if err != nil {
		return -1
	}
	n := 0
	for _, h := range hosts {
		if h.GetConnected() {
			n++
		}
	}
	return n
}

// raiseNoFile makes sure this process (and the processes it starts) may
// hold want descriptors.
func raiseNoFile(b *testing.B, want uint64) {
	b.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if lim.Cur >= want {
		return
	}
	if lim.Max < want {
		b.Fatalf("RLIMIT_NOFILE hard limit %d is below the %d descriptors this benchmark needs (raise it: ulimit -Hn)", lim.Max, want)
	}
	lim.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
}
