package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// The hostile-client suite: the real collector binary against a client
// that does what no agent does, each attack asserting the status the
// collector answers, a bound on the collector's peak RSS, the refusal
// counted in plumb_collector_limit_rejections_total, and that a real agent
// connected at the same time still gets its changes through.
//
// PLUMB_HOSTILE_COLLECTOR=/path/to/plumb-collector runs the same attacks
// against another build (e.g. one from before the limits) and only
// reports: it is how LIMITS-FIGURES.md was measured. Every attack logs
// one line "FIGURE attack=... code=... peak_rss_mib=...".

// maxAttackRSS bounds the collector's peak RSS (VmHWM) under each attack.
const maxAttackRSS = 250 << 20

// hostileConfig shortens the limits that are timeouts, so the suite runs
// in seconds; the sizes are the defaults.
const hostileConfig = `limits:
  hello_timeout: 2s
  watch_send_timeout: 2s
`

type hostileRig struct {
	t       *testing.T
	col     *collector
	metrics string
	measure bool // measuring another build: report, do not assert
	dir     string
	watch   string
	agent   *proc
}

func newHostileRig(t *testing.T, config string) *hostileRig {
	t.Helper()
	r := &hostileRig{t: t, dir: t.TempDir(), metrics: freeAddr(t)}
	path := bin.collector
	args := []string{"--listen", freeAddr(t), "--data", filepath.Join(r.dir, "col"), "--log-level", "info",
		"--metrics-listen", r.metrics}
	if other := os.Getenv("PLUMB_HOSTILE_COLLECTOR"); other != "" {
		// A build from before TLS serves only plaintext.
		path, r.measure = other, true
		args = append(args, "--insecure")
	} else {
		cfg := filepath.Join(r.dir, "collector.yaml")
		if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", cfg)
	}
	addr := args[1]
	useCollector(addr, args[3], r.measure, addr)
	r.col = &collector{proc: start(t, "collector", path, args...), addr: addr, data: args[3]}
	waitFor(t, 10*time.Second, "collector to serve", func() bool {
		_, err := scrape(r.metrics, "go_goroutines")
		return err == nil
	})
	r.watch = filepath.Join(r.dir, "watched")
	if err := os.MkdirAll(r.watch, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(r.watch, "first"), "1")
	r.agent = startAgent(t, r.col.addr, filepath.Join(r.dir, "agent"), "legit", r.watch)
	r.agentCatchesUp("first", 30*time.Second)
	return r
}

// agentCatchesUp waits until the collector holds the legit agent's file
// name.
func (r *hostileRig) agentCatchesUp(name string, within time.Duration) time.Duration {
	r.t.Helper()
	start := time.Now()
	want := filepath.Join(r.watch, name)
	waitFor(r.t, within, "the legit agent's "+name+" at the collector", func() bool {
		out, _, err := ctlResult(r.col.addr, "-o", "json", "facts", "--host", "legit", "--kind", "file")
		return err == nil && strings.Contains(out, `"`+want+`"`)
	})
	return time.Since(start)
}

// legitChange writes a new file and waits for the collector to hold it.
func (r *hostileRig) legitChange(name string) time.Duration {
	r.t.Helper()
	writeFile(r.t, filepath.Join(r.watch, name), name)
	return r.agentCatchesUp(name, 30*time.Second)
}

// peakRSS is the collector's VmHWM.
func (r *hostileRig) peakRSS() uint64 {
	r.t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", r.col.cmd.Process.Pid))
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				r.t.Fatal(err)
			}
			return kb << 10
		}
	}
	r.t.Fatal("no VmHWM in /proc/pid/status")
	return 0
}

func (r *hostileRig) rejections(limit string) float64 {
	v, _ := scrape(r.metrics, `plumb_collector_limit_rejections_total{limit="`+limit+`"}`)
	return v
}

// expect fails the test unless measuring another build, when it only logs.
func (r *hostileRig) expect(ok bool, format string, args ...any) {
	r.t.Helper()
	if ok {
		return
	}
	if r.measure {
		r.t.Logf("(measuring) "+format, args...)
		return
	}
	r.t.Errorf(format, args...)
}

// finish checks the peak RSS and that the legit agent still syncs, and
// logs the attack's figure.
func (r *hostileRig) finish(attack string, code codes.Code) {
	r.t.Helper()
	lag := r.legitChange("after-" + attack)
	peak := r.peakRSS()
	r.t.Logf("FIGURE attack=%s code=%s peak_rss_mib=%d legit_change_after_ms=%d", attack, code, peak>>20, lag.Milliseconds())
	r.expect(peak < maxAttackRSS, "%s: collector peak RSS %d MiB, want < %d MiB", attack, peak>>20, maxAttackRSS>>20)
}

// rawCodec sends pre-encoded bytes as they are, so an attack can send
// what no protobuf library would build cheaply.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case []byte:
		return mem.BufferSlice{mem.SliceBuffer(m)}, nil
	case proto.Message:
		b, err := proto.Marshal(m)
		return mem.BufferSlice{mem.SliceBuffer(b)}, err
	}
	return nil, fmt.Errorf("rawCodec: %T", v)
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return proto.Unmarshal(data.Materialize(), v.(proto.Message))
}

var _ encoding.CodecV2 = rawCodec{}

var syncDesc = &grpc.StreamDesc{StreamName: "Sync", ServerStreams: true, ClientStreams: true}

// syncStream opens a Sync stream as host and, unless host is "", says
// hello and reads the welcome.
func syncStream(ctx context.Context, t *testing.T, conn *grpc.ClientConn, host string) grpc.ClientStream {
	t.Helper()
	st, err := conn.NewStream(ctx, syncDesc, "/plumb.v1.AgentService/Sync", grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	if host == "" {
		return st
	}
	if err := st.SendMsg(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Hello{Hello: &plumbv1.Hello{
		HostId: host, BucketCount: fact.BucketCount}}}); err != nil {
		t.Fatal(err)
	}
	var w plumbv1.SyncResponse
	if err := st.RecvMsg(&w); err != nil || w.GetWelcome() == nil {
		t.Fatalf("welcome for %s: %v %v", host, &w, err)
	}
	return st
}

// sendRecv sends m and returns the next reply, or the status the stream
// ended with.
func sendRecv(st grpc.ClientStream, m any) (*plumbv1.SyncResponse, error) {
	if err := st.SendMsg(m); err != nil {
		// The server may have ended the stream first; its status is in
		// RecvMsg.
		_ = err
	}
	var resp plumbv1.SyncResponse
	if err := st.RecvMsg(&resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// endStatus reads until the stream ends and returns its status.
func endStatus(st grpc.ClientStream) *status.Status {
	for {
		var resp plumbv1.SyncResponse
		if err := st.RecvMsg(&resp); err != nil {
			return status.Convert(err)
		}
	}
}

func fileFact(key string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte(key),
		Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{Type: plumbv1.FileType_FILE_TYPE_REGULAR, Sha256: make([]byte, 32)}}})
}

func deltaBatch(ds ...*plumbv1.Delta) *plumbv1.SyncRequest {
	return &plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Deltas{Deltas: &plumbv1.DeltaBatch{Deltas: ds}}}
}

// upserts returns n upserts of keys prefix+i numbered from seq.
func upserts(seq uint64, prefix string, n int) []*plumbv1.Delta {
	out := make([]*plumbv1.Delta, n)
	for i := range out {
		out[i] = &plumbv1.Delta{Seq: seq + uint64(i), Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: fileFact(fmt.Sprintf("%s%d", prefix, i))}
	}
	return out
}

// feed sends batches of upserts to host, 1000 at a time, and returns the
// last seq.
func feed(ctx context.Context, t *testing.T, st grpc.ClientStream, seq uint64, prefix string, n int) uint64 {
	t.Helper()
	for i := 0; i < n; i += 1000 {
		ds := upserts(seq, fmt.Sprintf("%s%d-", prefix, i), min(1000, n-i))
		resp, err := sendRecv(st, deltaBatch(ds...))
		if err != nil || resp.GetAck() == nil {
			t.Fatalf("feeding %s: %v %v", prefix, resp, err)
		}
		seq += uint64(len(ds))
	}
	return seq
}

func TestHostileClients(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the collector once per attack")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// One delta numbered 2^64-1 used to freeze a host for good.
	t.Run("seq_window", func(t *testing.T) {
		r := newHostileRig(t, hostileConfig)
		conn := hostileConn(t, r.col, "evil")
		st := syncStream(ctx, t, conn, "evil")
		_, err := sendRecv(st, deltaBatch(&plumbv1.Delta{Seq: math.MaxUint64, Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: fileFact("/x")}))
		code := status.Code(err)
		r.expect(code == codes.OutOfRange, "seq 2^64-1: %v, want OutOfRange", err)
		st = syncStream(ctx, t, conn, "evil")
		resp, err := sendRecv(st, deltaBatch(upserts(1, "/real-", 1)...))
		r.expect(err == nil && resp.GetAck().GetSeq() == 1, "the next real delta: %v %v, want ack 1", resp, err)
		r.expect(r.rejections("seq_window") == 1, "seq_window rejections %v", r.rejections("seq_window"))
		r.finish("seq_window", code)
	})

	// Four messages at once, each of a million empty deltas (2 MB).
	t.Run("empty_deltas", func(t *testing.T) {
		r := newHostileRig(t, hostileConfig)
		var inner []byte
		for range 1_000_000 {
			inner = protowire.AppendTag(inner, 1, protowire.BytesType)
			inner = protowire.AppendVarint(inner, 0)
		}
		msg := protowire.AppendTag(nil, 2, protowire.BytesType)
		msg = protowire.AppendBytes(msg, inner)
		codesSeen := make([]codes.Code, 4)
		var wg sync.WaitGroup
		for i := range codesSeen {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st := syncStream(ctx, t, hostileConn(t, r.col, fmt.Sprintf("evil-%d", i)), fmt.Sprintf("evil-%d", i))
				_, err := sendRecv(st, msg)
				codesSeen[i] = status.Code(err)
			}()
		}
		wg.Wait()
		for i, c := range codesSeen {
			r.expect(c == codes.ResourceExhausted, "stream %d: %v, want ResourceExhausted", i, c)
		}
		r.expect(r.rejections("deltas_per_batch") == 4, "deltas_per_batch rejections %v", r.rejections("deltas_per_batch"))
		r.finish("empty_deltas", codesSeen[0])
	})

	// Connections that open streams and never say hello, past the
	// per-address connection cap.
	t.Run("silent_streams", func(t *testing.T) {
		r := newHostileRig(t, hostileConfig)
		const conns, perConn = 70, 40
		var mu sync.Mutex
		count := map[codes.Code]int{}
		var wg sync.WaitGroup
		start := time.Now()
		for c := range conns {
			conn := hostileConn(t, r.col, fmt.Sprintf("silent-%d", c))
			for range perConn {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sctx, scancel := context.WithTimeout(ctx, 15*time.Second)
					defer scancel()
					st, err := conn.NewStream(sctx, syncDesc, "/plumb.v1.AgentService/Sync", grpc.ForceCodecV2(rawCodec{}))
					if err == nil {
						err = st.RecvMsg(&plumbv1.SyncResponse{})
					}
					mu.Lock()
					count[status.Code(err)]++
					mu.Unlock()
				}()
			}
		}
		wg.Wait()
		took := time.Since(start)
		t.Logf("silent streams ended: %v in %v", count, took)
		r.expect(count[codes.DeadlineExceeded] >= 64*32 && count[codes.Unavailable] > 0,
			"codes %v: want every admitted stream DeadlineExceeded, the connections past the cap Unavailable", count)
		r.expect(r.rejections("hello_timeout") >= 64*32, "hello_timeout rejections %v", r.rejections("hello_timeout"))
		r.expect(r.rejections("connections_per_ip") >= 6, "connections_per_ip rejections %v", r.rejections("connections_per_ip"))
		r.finish("silent_streams", codes.DeadlineExceeded)
	})

	// Bucket snapshots that never send their final message, from several
	// hosts at once.
	t.Run("pending_snapshots", func(t *testing.T) {
		r := newHostileRig(t, hostileConfig)
		// 900 facts of one bucket with 4 KiB keys: 3.7 MB a message.
		var facts []*plumbv1.Fact
		pad := strings.Repeat("p", 4000)
		for i := 0; len(facts) < 900; i++ {
			f := fileFact(fmt.Sprintf("/%s/%d", pad, i))
			if fact.KeyOf(f).Bucket() == 7 {
				facts = append(facts, f)
			}
		}
		msg, err := proto.Marshal(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Bucket{Bucket: &plumbv1.BucketSnapshot{Bucket: 7, Facts: facts}}})
		if err != nil {
			t.Fatal(err)
		}
		codesSeen := make([]codes.Code, 6)
		var wg sync.WaitGroup
		for i := range codesSeen {
			wg.Add(1)
			go func() {
				defer wg.Done()
				host := fmt.Sprintf("snap-%d", i)
				st := syncStream(ctx, t, hostileConn(t, r.col, host), host)
				for range 10 {
					if err := st.SendMsg(msg); err != nil {
						break
					}
				}
				st.CloseSend()
				codesSeen[i] = endStatus(st).Code()
			}()
		}
		wg.Wait()
		for i, c := range codesSeen {
			r.expect(c == codes.ResourceExhausted, "stream %d: %v, want ResourceExhausted", i, c)
		}
		r.expect(r.rejections("pending_snapshot_bytes")+r.rejections("pending_snapshot_bytes_total") >= 6,
			"pending snapshot rejections %v + %v", r.rejections("pending_snapshot_bytes"), r.rejections("pending_snapshot_bytes_total"))
		r.finish("pending_snapshots", codesSeen[0])
	})

	// Watchers that never read while drift events pour in.
	t.Run("slow_watchers", func(t *testing.T) {
		r := newHostileRig(t, hostileConfig)
		const watchers = 300
		streams := make([]grpc.ServerStreamingClient[plumbv1.WatchDriftResponse], 0, watchers)
		for c := range watchers / 30 {
			q := plumbv1.NewQueryServiceClient(hostileConn(t, r.col, fmt.Sprintf("watcher-%d", c)))
			for range 30 {
				w, err := q.WatchDrift(ctx, &plumbv1.WatchDriftRequest{})
				if err != nil {
					t.Fatal(err)
				}
				streams = append(streams, w)
			}
		}
		// A host with a baseline, then 20,000 new facts: 20,000 events.
		st := syncStream(ctx, t, hostileConn(t, r.col, "noisy"), "noisy")
		var empty fact.SetDigest
		if _, err := sendRecv(st, deltaBatch(&plumbv1.Delta{Seq: 1, Op: plumbv1.DeltaOp_DELTA_OP_CHECKPOINT, SetDigest: empty.Sum()})); err != nil {
			t.Fatal(err)
		}
		feedStart := time.Now()
		feed(ctx, t, st, 2, "/noise/"+strings.Repeat("n", 200), 20000)
		t.Logf("20,000 deltas with %d watchers that do not read took %v", watchers, time.Since(feedStart))
		lag := r.legitChange("during-watch")
		t.Logf("legit change during the watch attack took %v", lag)
		// Those over the cap were refused at once; the others are dropped
		// within the send timeout.
		waitUntil := time.Now().Add(15 * time.Second)
		for r.rejections("watch_slow") < 64 && time.Now().Before(waitUntil) && !r.measure {
			time.Sleep(100 * time.Millisecond)
		}
		r.expect(r.rejections("watch_streams") == watchers-64, "watch_streams rejections %v, want %d", r.rejections("watch_streams"), watchers-64)
		r.expect(r.rejections("watch_slow") == 64, "watch_slow rejections %v, want every admitted watcher (64)", r.rejections("watch_slow"))
		t.Logf("watchers dropped for not reading: %v", r.rejections("watch_slow"))
		_, err := streams[len(streams)-1].Recv()
		code := status.Code(err)
		r.finish("slow_watchers", code)
	})

	// One ListFacts of a big host (100,000 facts of 1 KB keys).
	t.Run("list_facts", func(t *testing.T) {
		r := newHostileRig(t, hostileConfig)
		conn := hostileConn(t, r.col, "big")
		st := syncStream(ctx, t, conn, "big")
		feed(ctx, t, st, 1, "/big/"+strings.Repeat("b", 1000), 100000)
		q := plumbv1.NewQueryServiceClient(conn)
		resp, err := q.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: "big"})
		code := status.Code(err)
		r.expect(err == nil && len(resp.GetFacts()) == 10000 && resp.GetNextPageToken() != "",
			"ListFacts without a page size: %d facts, token %q, %v; want the first 10,000 and a token", len(resp.GetFacts()), resp.GetNextPageToken(), err)
		_, err = q.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: "big", PageSize: 1_000_000})
		r.expect(status.Code(err) == codes.InvalidArgument, "page_size 1,000,000: %v, want InvalidArgument", err)
		r.finish("list_facts", code)
	})

	// More facts than the host's quota, and a coverage record of 3.5 MB.
	t.Run("quotas", func(t *testing.T) {
		r := newHostileRig(t, hostileConfig+"  max_facts_per_host: 2000\n")
		conn := hostileConn(t, r.col, "greedy")
		st := syncStream(ctx, t, conn, "greedy")
		seq := feed(ctx, t, st, 1, "/g/", 2000)
		_, err := sendRecv(st, deltaBatch(upserts(seq, "/more/", 1000)...))
		code := status.Code(err)
		r.expect(code == codes.ResourceExhausted, "a batch past the quota: %v, want ResourceExhausted", err)
		var hosts []hostJSON
		ctlJSON(t, r.col.addr, &hosts, "hosts")
		for _, h := range hosts {
			if h.HostID == "greedy" {
				r.expect(h.FactCount == 2000, "greedy holds %d facts, want 2000", h.FactCount)
			}
		}
		var conds []*plumbv1.CoverageCondition
		for i := range 420 {
			conds = append(conds, &plumbv1.CoverageCondition{Source: "file", Reason: "unreadable", Detail: fmt.Sprintf("/%08000d", i)})
		}
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second) // an old build never answers
		defer ccancel()
		st = syncStream(cctx, t, conn, "greedy")
		_, err = sendRecv(st, &plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Coverage{Coverage: &plumbv1.Coverage{Conditions: conds}}})
		r.expect(status.Code(err) == codes.ResourceExhausted, "3.5 MB of coverage: %v, want ResourceExhausted", err)
		r.expect(r.rejections("facts_per_host") == 1 && r.rejections("coverage") == 1,
			"rejections facts_per_host %v coverage %v", r.rejections("facts_per_host"), r.rejections("coverage"))
		r.finish("quotas", code)
	})
}
