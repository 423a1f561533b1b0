package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// hookEvent is the part of a generic webhook body the benchmark reads,
// with the time it arrived.
type hookEvent struct {
	Type       string `json:"type"`
	Key        string `json:"key"`
	At         string `json:"at"`
	ObservedAt string `json:"observed_at"`
	Current    struct {
		ObservedAt string `json:"observed_at"`
		Attributes struct {
			SHA256 string `json:"sha256"`
		} `json:"attributes"`
	} `json:"current"`

	received time.Time
}

// hookReceiver is a real HTTP webhook endpoint that hands each event to
// the benchmark as it arrives.
type hookReceiver struct {
	srv    *httptest.Server
	events chan hookEvent
	posts  atomic.Int64 // notifications received
}

func newHookReceiver(b *testing.B) *hookReceiver {
	return newHookReceiverSized(b, 4096)
}

// newHookReceiverSized is newHookReceiver with room for queue events not
// yet taken.
func newHookReceiverSized(b *testing.B, queue int) *hookReceiver {
	h := &hookReceiver{events: make(chan hookEvent, queue)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.posts.Add(1)
		body, err := io.ReadAll(r.Body)
		now := time.Now()
		// A grouped notification: its events, in order.
		var n struct {
			Type   string      `json:"type"`
			Events []hookEvent `json:"events"`
		}
		if err == nil {
			err = json.Unmarshal(body, &n)
		}
		if err == nil && n.Type != "drift.group" {
			var ev hookEvent
			err = json.Unmarshal(body, &ev)
			n.Events = []hookEvent{ev}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, ev := range n.Events {
			ev.received = now
			h.events <- ev
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(h.srv.Close)
	return h
}

// emptySHA256 is the SHA-256 of no bytes: a file caught between the
// truncating open and the write.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// await returns the first event for key whose type is one of types and
// whose current content has the SHA-256 sum. Any other event received
// meanwhile is listed in stray.
func (h *hookReceiver) await(b *testing.B, d time.Duration, key, sum string, types []string, stray *[]string) hookEvent {
	b.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		select {
		case ev := <-h.events:
			if ev.Key == key && slices.Contains(types, ev.Type) && ev.Current.Attributes.SHA256 == sum {
				return ev
			}
			what := ev.Type + " " + filepath.Base(ev.Key)
			switch {
			case ev.Key == key && ev.Current.Attributes.SHA256 == emptySHA256:
				what += " (empty: seen half-written)"
			case ev.Key == key:
				what += " (other content)"
			}
			*stray = append(*stray, what)
		case <-deadline.C:
			b.Fatalf("no %v webhook for %s with content %s within %v", types, key, sum, d)
		}
	}
}

// BenchmarkWriteToWebhook times single file changes from the moment
// os.WriteFile returns until the collector's webhook for that change
// arrives at a real HTTP receiver, one change at a time.
func BenchmarkWriteToWebhook(b *testing.B) {
	const files = 500
	changes := envInt(b, "PLUMB_BENCH_CHANGES", 1000)
	for range b.N {
		dir := scratch(b, "webhook")
		root := sub(dir, "tree")
		paths, original := smallTree(b, root, files)
		hook := newHookReceiver(b)
		// Grouping off: this is the latency of one change alone (see
		// TestCriticalIsNotHeldForTheGroupWait in e2e for it with grouping).
		c := startCollector(b, sub(dir, "collector"), hook.srv.URL,
			"--webhook-group", "group_wait=0s", "--webhook-group", "group_interval=0s", "--webhook-group", "critical_wait=0s")
		a := startAgent(b, c, sub(dir, "agent"), "hook", root)
		c.awaitBaseline(b, time.Minute, "hook", uint64(files+files/filesPerDir+1))
		commitNames := []string{"plumb_collector_group_commit_seconds_sum", "plumb_collector_group_commit_seconds_count"}
		commits0, err := scrapeAll(c.metrics, commitNames...)
		if err != nil {
			b.Fatal(err)
		}
		agentCPU0, collectorCPU0 := a.cpuTime(b), c.cpuTime(b)

		var total, toObserved, toCommitted, toReceived []time.Duration
		var stray []string
		var lastWrite time.Time
		for i := range changes {
			// Pass 0 changes every file (drift opens), pass 1 restores
			// them (drift resolves), and so on: one webhook per write.
			p, pass := paths[i%files], i/files
			// drift.updated when the agent saw the file half-written
			// first (the open truncates it): then the awaited webhook is
			// the one that carries the new content.
			content, types := []byte(fmt.Sprintf("# changed in pass %d\nvalue = %d\n", pass, i)), []string{"drift.opened", "drift.updated"}
			if pass%2 == 1 {
				content, types = original[i%files], []string{"drift.resolved"}
			}
			sum := sha256.Sum256(content)
			if wait := 5*time.Millisecond - time.Since(lastWrite); wait > 0 {
				time.Sleep(wait)
			}
			if err := os.WriteFile(p, content, 0o644); err != nil {
				b.Fatal(err)
			}
			written := time.Now()
			lastWrite = written
			ev := hook.await(b, 30*time.Second, p, hex.EncodeToString(sum[:]), types, &stray)
			total = append(total, ev.received.Sub(written))
			observed := ev.Current.ObservedAt
			if observed == "" {
				observed = ev.ObservedAt
			}
			obs, err1 := time.Parse(time.RFC3339Nano, observed)
			at, err2 := time.Parse(time.RFC3339Nano, ev.At)
			if err1 == nil && err2 == nil {
				toObserved = append(toObserved, obs.Sub(written))
				toCommitted = append(toCommitted, at.Sub(obs))
				toReceived = append(toReceived, ev.received.Sub(at))
			}
		}

		agentCPU, collectorCPU := a.cpuTime(b)-agentCPU0, c.cpuTime(b)-collectorCPU0
		commits1, err := scrapeAll(c.metrics, commitNames...)
		if err != nil {
			b.Fatal(err)
		}
		var commitMean time.Duration
		if n := commits1[1] - commits0[1]; n > 0 {
			commitMean = time.Duration((commits1[0] - commits0[0]) / n * float64(time.Second))
		}
		stale := staleFacts(b, c, "hook", paths)
		// The floor: the two durable commits every change waits for (the
		// agent's spool, the collector's store), measured on this disk
		// now, after the agent and collector are done with it.
		floor := commitFloor(b, dir, 200)

		tab := newTable(fmt.Sprintf("BenchmarkWriteToWebhook: %d sequential changes over %d files, ≥5 ms apart, loopback", changes, files),
			"stage", "p50", "p90", "p99", "max", "mean", "p50 share")
		p50 := pct(total, 0.50)
		for _, s := range []struct {
			name string
			ds   []time.Duration
		}{
			{"write returned → webhook received", total},
			{"  write returned → agent observed (observed_at)", toObserved},
			{"  agent observed → collector committed (at)", toCommitted},
			{"  collector committed → webhook received", toReceived},
		} {
			if len(s.ds) == 0 {
				continue
			}
			tab.row(s.name, millis(pct(s.ds, 0.50)), millis(pct(s.ds, 0.90)), millis(pct(s.ds, 0.99)),
				millis(pct(s.ds, 1)), millis(mean(s.ds)), ratio(pct(s.ds, 0.50).Seconds(), p50.Seconds()))
		}
		tab.row("floor: one bbolt commit with fsync, this disk (200 in a row)", millis(pct(floor, 0.50)), millis(pct(floor, 0.90)),
			millis(pct(floor, 0.99)), millis(pct(floor, 1)), millis(mean(floor)), ratio(pct(floor, 0.50).Seconds(), p50.Seconds()))
		tab.note("stage figures come from the webhook's observed_at (agent clock) and at (collector clock), same host")
		tab.note("at is stamped inside the collector's transaction: committed → webhook includes its fsync; the collector's transactions took %s on average (plumb_collector_group_commit_seconds)",
			millis(commitMean))
		tab.note("CPU per change: agent %.0f µs, collector %.0f µs", perChange(agentCPU, changes), perChange(collectorCPU, changes))
		if len(stray) > 0 {
			tab.note("%d webhooks besides the awaited ones, first: %s", len(stray), strings.Join(stray[:min(5, len(stray))], ", "))
		}
		if len(stale) > 0 {
			tab.note("STALE: after the last change the collector holds other content than the disk for %d files: %s",
				len(stale), strings.Join(stale[:min(5, len(stale))], ", "))
		}
		tab.print()
		if len(stale) > 0 {
			b.Errorf("collector's facts differ from the files on disk for %d files", len(stale))
		}

		p99 := pct(total, 0.99)
		summarize("write → webhook, 1,000 changes, grouping off",
			fmt.Sprintf("p50 %s, p99 %s; CPU/change agent %.0f µs, collector %.0f µs", millis(p50), millis(p99),
				perChange(agentCPU, changes), perChange(collectorCPU, changes)),
			fmt.Sprintf("floor 2 fsync'd commits: 2 × %s = %s (p50)", millis(pct(floor, 0.5)), millis(2*pct(floor, 0.5))),
			"p50 ≤ 5 ms, p99 ≤ 30 ms")
		if len(toObserved) == 0 {
			b.Fatal("no webhook carried observed_at and at: the stage figures cannot be told apart")
		}
		summarize("  write → agent observed",
			fmt.Sprintf("p50 %s, p99 %s", millis(pct(toObserved, 0.5)), millis(pct(toObserved, 0.99))),
			"fsnotify event 4 µs p50 (DESIGN.md)", "")
		summarize("  collector committed → webhook received",
			fmt.Sprintf("p50 %s, including its own commit (transactions %s mean)", millis(pct(toReceived, 0.5)), millis(commitMean)),
			fmt.Sprintf("fsync floor %s p50", millis(pct(floor, 0.5))),
			"well under 1 ms beyond the commit (see BenchmarkCommitToWebhook kick-p50)")
		b.ReportMetric(float64(p50)/1e6, "p50-ms")
		b.ReportMetric(float64(p99)/1e6, "p99-ms")
		b.ReportMetric(float64(pct(total, 1))/1e6, "max-ms")
	}
}

// perChange is cpu per change, in µs.
func perChange(cpu time.Duration, changes int) float64 {
	return float64(cpu.Microseconds()) / float64(changes)
}

// smallTree writes n small files under root, 100 to a directory, and
// returns their paths and contents.
func smallTree(b *testing.B, root string, n int) ([]string, [][]byte) {
	b.Helper()
	paths := make([]string, n)
	contents := make([][]byte, n)
	for i := range n {
		d := filepath.Join(root, fmt.Sprintf("d%02d", i/filesPerDir))
		if i%filesPerDir == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		paths[i] = filepath.Join(d, fmt.Sprintf("f%03d.conf", i))
		contents[i] = []byte(fmt.Sprintf("# original %d\nvalue = %d\n", i, i*7))
		if err := os.WriteFile(paths[i], contents[i], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return paths, contents
}

// pct returns the p-quantile (nearest rank) of ds.
func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

// staleFacts returns the files whose content on disk differs from the
// SHA-256 the collector holds for them, once the agent's spool is empty
// and the collector has had a moment to converge.
func staleFacts(b *testing.B, c *collector, host string, paths []string) []string {
	b.Helper()
	var stale []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		stale = differing(b, c, host, paths)
		if len(stale) == 0 || time.Now().After(deadline) {
			return stale
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// differing returns the files whose content on disk differs, now, from
// the SHA-256 the collector holds for them.
func differing(b *testing.B, c *collector, host string, paths []string) []string {
	b.Helper()
	held := heldSums(b, c, host)
	var stale []string
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		if sum := sha256.Sum256(data); !bytes.Equal(held[p], sum[:]) {
			stale = append(stale, filepath.Base(p))
		}
	}
	return stale
}

// heldSums returns the SHA-256 the collector holds for each of host's
// files, by path, paging through ListFacts.
func heldSums(b *testing.B, c *collector, host string) map[string][]byte {
	b.Helper()
	held := map[string][]byte{}
	token := ""
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		resp, err := c.query.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: host, Kind: plumbv1.FactKind_FACT_KIND_FILE,
			PageSize: 5000, PageToken: token})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range resp.GetFacts() {
			held[string(f.GetKey())] = f.GetFile().GetSha256()
		}
		if token = resp.GetNextPageToken(); token == "" {
			return held
		}
	}
}
