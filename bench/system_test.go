package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// collector is a running plumb-collector with a query client.
type collector struct {
	*proc
	addr, metrics, data string
	query               plumbv1.QueryServiceClient
	insecure            bool
	joinToken, caPin    string // for agents, when TLS
	mu                  sync.Mutex
	certs               map[string]*tls.Certificate // enrolled fake agents, by host; guarded by mu
	enrollConn          *grpc.ClientConn            // guarded by mu
}

// startCollector runs a collector on data, with TLS as packaged; hookURL
// may be empty. extra may hold --insecure.
func startCollector(b *testing.B, data, hookURL string, extra ...string) *collector {
	b.Helper()
	c := &collector{addr: freeAddr(b), metrics: freeAddr(b), data: data, insecure: slices.Contains(extra, "--insecure")}
	args := []string{"--listen", c.addr, "--data", data, "--metrics-listen", c.metrics, "--log-level", "info"}
	// Every fake agent here connects from 127.0.0.1: lift the
	// per-address connection cap that would otherwise stop the 65th.
	cfg := filepath.Join(b.TempDir(), "collector.yaml")
	if err := os.WriteFile(cfg, []byte("limits:\n  max_connections_per_ip: 100000\n  max_connections: 100000\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	args = append(args, "--config", cfg)
	if hookURL != "" {
		args = append(args, "--webhook-url", hookURL)
	}
	c.proc = start(b, "collector", bin.collector, append(args, extra...)...)
	waitFor(b, 20*time.Second, "collector to serve", func() bool {
		conn, err := net.DialTimeout("tcp", c.addr, 100*time.Millisecond)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	conn := c.dial(b, nil, true)
	c.query = plumbv1.NewQueryServiceClient(conn)
	if !c.insecure {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := plumbv1.NewAdminServiceClient(conn).CreateJoinToken(ctx, &plumbv1.CreateJoinTokenRequest{TtlSeconds: 86400, Uses: 100000})
		if err != nil {
			b.Fatal(err)
		}
		c.joinToken, c.caPin = resp.GetToken(), resp.GetCaPin()
	}
	return c
}

// host returns the collector's record of id, or nil.
func (c *collector) host(id string) *plumbv1.Host {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hosts, err := c.hosts(ctx)
	if err != nil {
		return nil
	}
	for _, h := range hosts {
		if h.GetHostId() == id {
			return h
		}
	}
	return nil
}

// hosts pages through every host the collector knows.
func (c *collector) hosts(ctx context.Context) ([]*plumbv1.Host, error) {
	var all []*plumbv1.Host
	req := &plumbv1.ListHostsRequest{}
	for {
		resp, err := c.query.ListHosts(ctx, req)
		if err != nil {
			return nil, err
		}
		all = append(all, resp.GetHosts()...)
		if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
			return all, nil
		}
	}
}

// awaitFacts polls until the collector holds want facts for host, and
// returns when it first saw them.
func (c *collector) awaitFacts(b *testing.B, d time.Duration, host string, want uint64) time.Time {
	b.Helper()
	var last uint64
	deadline := time.Now().Add(d)
	for {
		h := c.host(host)
		now := time.Now()
		if h != nil {
			last = h.GetFactCount()
			if last == want {
				return now
			}
		}
		if now.After(deadline) {
			b.Fatalf("collector holds %d facts for %s after %v, want %d", last, host, d, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// awaitBaseline polls until the collector has adopted a baseline for
// host and holds want facts: the agent's first complete snapshot, closed
// by its checkpoint, has been committed.
func (c *collector) awaitBaseline(b *testing.B, d time.Duration, host string, want uint64) {
	b.Helper()
	waitFor(b, d, fmt.Sprintf("a baseline of %d facts for %s", want, host), func() bool {
		h := c.host(host)
		return h != nil && h.GetHasBaseline() && h.GetFactCount() == want
	})
}

// agent is a running plumb-agent watching one tree with the file source
// only, so its facts are exactly the tree's files and directories.
type agent struct {
	*proc
	metrics string
}

func startAgent(b *testing.B, c *collector, state, hostID, tree string) *agent {
	b.Helper()
	a := &agent{metrics: freeAddr(b)}
	auth := []string{"--insecure"}
	if !c.insecure {
		auth = []string{"--join-token", c.joinToken, "--ca-pin", c.caPin}
	}
	a.proc = start(b, "agent "+hostID, bin.agent, append(auth, "--collector", c.addr,
		"--state", state, "--host-id", hostID, "--sources", "file", "--watch", tree,
		"--metrics-listen", a.metrics, "--log-level", "info")...)
	return a
}

// awaitMetric polls addr's /metrics until name satisfies ok, and returns
// its value.
func awaitMetric(b *testing.B, d time.Duration, addr, name string, ok func(float64) bool) float64 {
	b.Helper()
	deadline := time.Now().Add(d)
	for {
		v, err := scrape(addr, name)
		if err == nil && ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			b.Fatalf("metric %s at %s: last %v (err %v) after %v", name, addr, v, err, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitFor(b *testing.B, d time.Duration, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scratch returns a fresh directory under the run's work dir.
func scratch(b *testing.B, name string) string {
	b.Helper()
	dir, err := os.MkdirTemp(workDir, name+"-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func sub(dir, name string) string { return filepath.Join(dir, name) }
