package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// BenchmarkOutliersFleet: `outliers` over 1,000 hosts × 2,000 facts
// (PLUMB_BENCH_OUTLIER_HOSTS, PLUMB_BENCH_OUTLIER_FACTS). The fleet is
// written into a store directly, every host in group=web with the same
// files, but for a seeded set of planted departures (a changed file, a
// missing one, an extra one) and a per-host /etc/hostname, which the
// default exclusion list leaves out. A real collector then opens the
// store and serves ListOutliers over gRPC; the benchmark times the whole
// listing (every page) and samples the collector's memory while it
// runs: peak resident set, and peak anonymous resident memory (the heap,
// without bbolt's file-backed mmap pages).
func BenchmarkOutliersFleet(b *testing.B) {
	hosts := envInt(b, "PLUMB_BENCH_OUTLIER_HOSTS", 1000)
	facts := envInt(b, "PLUMB_BENCH_OUTLIER_FACTS", 2000)
	seed := uint64(time.Now().UnixNano())
	b.Logf("seed %d", seed)
	data := scratch(b, "outliers")
	gen := time.Now()
	planted := generateUniformFleet(b, filepath.Join(data, "plumb.db"), hosts, facts, seed)
	genTook := time.Since(gen)
	st, err := os.Stat(filepath.Join(data, "plumb.db"))
	if err != nil {
		b.Fatal(err)
	}
	c := startCollector(b, data, "")
	before := c.memStatus(b)

	var (
		mu           sync.Mutex
		peakRSS      int64
		peakAnon     int64
		stopSampling = make(chan struct{})
		sampled      = make(chan struct{})
	)
	go func() {
		defer close(sampled)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			m := c.memStatus(b)
			mu.Lock()
			peakRSS, peakAnon = max(peakRSS, m["VmRSS"]), max(peakAnon, m["RssAnon"])
			mu.Unlock()
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	var got []*plumbv1.Outlier
	var first time.Duration
	pages, token := 0, ""
	for {
		resp, err := c.query.ListOutliers(ctx, &plumbv1.ListOutliersRequest{LabelSelector: "group=web", PageToken: token})
		if err != nil {
			b.Fatal(err)
		}
		if pages == 0 {
			first = time.Since(t0)
		}
		pages++
		got = append(got, resp.GetOutliers()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	took := time.Since(t0)
	close(stopSampling)
	<-sampled

	found := map[string]bool{}
	for _, o := range got {
		found[o.GetHostId()+" "+string(o.GetKey())+" "+o.GetOutlier().String()] = true
	}
	for _, p := range planted {
		if !found[p] {
			b.Errorf("planted outlier %q not listed", p)
		}
	}
	if len(got) != len(planted) {
		b.Errorf("%d outliers listed, %d planted", len(got), len(planted))
	}
	t := newTable(fmt.Sprintf("outliers: %d hosts × %d facts (store %s, written in %s)", hosts, facts, mib(float64(st.Size())), secs(genTook)),
		"call", "time", "pages", "outliers", "collector RSS before", "peak RSS", "peak anon RSS (heap)")
	t.row("ListOutliers group=web (all pages)", secs(took), strconv.Itoa(pages), strconv.Itoa(len(got)),
		mib(float64(before["VmRSS"])), mib(float64(peakRSS)), mib(float64(peakAnon)))
	t.note("the first page took %s (each page recomputes the comparison); anon RSS before the call: %s",
		secs(first), mib(float64(before["RssAnon"])))
	t.note("peak RSS includes the store's file pages the two passes touch through bbolt's mmap (page cache, shared); anon RSS is the collector's own memory")
	t.print()
}

// memStatus reads the collector's VmRSS and RssAnon, in bytes.
func (c *collector) memStatus(b *testing.B) map[string]int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/status")
	if err != nil {
		b.Errorf("read status: %v", err)
		return nil
	}
	m := map[string]int64{}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "RssAnon:") {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			m[strings.TrimSuffix(f[0], ":")] = kb << 10
		}
	}
	return m
}

// generateUniformFleet writes hosts in group=web, each with the same
// `facts` files, into a new store, then plants departures on a seeded
// 1% of hosts (at least 3): a changed file, a missing file and an extra
// file each. It returns the planted outliers as "host key KIND".
func generateUniformFleet(b *testing.B, path string, hosts, facts int, seed uint64) []string {
	b.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	st, err := store.Open(path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	file := func(path string, content []byte) *plumbv1.Fact {
		sum := sha256.Sum256(content)
		return fact.Seal(&plumbv1.Fact{
			Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte(path),
			Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{
				Type: plumbv1.FileType_FILE_TYPE_REGULAR, Mode: 0o644, Size: int64(len(content)), Sha256: sum[:],
				Inode: rng.Uint64N(1 << 20),
			}},
		})
	}
	odd := map[int]int{} // host → the fact index it departs on
	for len(odd) < max(3, hosts/100) {
		odd[rng.IntN(hosts)] = rng.IntN(facts - 1)
	}
	var planted []string
	name := func(i int) string { return fmt.Sprintf("/etc/app/conf.d/%04d-service.conf", i) }
	for h := range hosts {
		id := hostName(h)
		err := st.Update(context.Background(), func(tx store.Tx) error {
			var digest fact.SetDigest
			put := func(f *plumbv1.Fact) error {
				digest.Add(fact.KeyOf(f), f.GetDigest())
				return tx.PutFact(id, f)
			}
			i, isOdd := odd[h]
			for j := range facts - 1 {
				content := fmt.Appendf(nil, "option = %d\n", j)
				switch {
				case isOdd && j == i:
					content = fmt.Appendf(content, "odd = %s\n", id)
					planted = append(planted, id+" "+name(j)+" OUTLIER_KIND_DIFFERS")
				case isOdd && j == i+1:
					planted = append(planted, id+" "+name(j)+" OUTLIER_KIND_MISSING")
					continue
				}
				if err := put(file(name(j), content)); err != nil {
					return err
				}
			}
			if err := put(file("/etc/hostname", []byte(id+"\n"))); err != nil {
				return err
			}
			if isOdd {
				planted = append(planted, id+" /etc/app/extra.conf OUTLIER_KIND_EXTRA")
				if err := put(file("/etc/app/extra.conf", []byte("extra\n"))); err != nil {
					return err
				}
			}
			return tx.PutHost(&store.Host{
				ID: id, Labels: map[string]string{"group": "web"},
				Info:      &plumbv1.HostInfo{Hostname: id, Os: "linux", AgentVersion: "dev"},
				FactCount: uint64(facts), Digest: digest, HasBaseline: true,
			})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return planted
}
