package file

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/pkg/fact"
	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

var (
	benchTreeOnce sync.Once
	benchTreeDir  string
	benchTreeSize int64
)

const benchFiles = 5000

// benchTree generates, once per process, a tree of benchFiles files of
// 1–16 KiB in 50 directories of 100, two levels deep.
func benchTree(b *testing.B) string {
	benchTreeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "plumb-file-bench-")
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 16<<10)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		for i := range benchFiles {
			d := filepath.Join(dir, fmt.Sprintf("d%02d", i/500), fmt.Sprintf("e%02d", i/100%5))
			if i%100 == 0 {
				if err := os.MkdirAll(d, 0o755); err != nil {
					b.Fatal(err)
				}
			}
			n := 1<<10 + (i*337)%(15<<10)
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%04d", i)), buf[:n], 0o644); err != nil {
				b.Fatal(err)
			}
			benchTreeSize += int64(n)
		}
		benchTreeDir = dir
	})
	if benchTreeDir == "" {
		b.Fatal("no bench tree")
	}
	return benchTreeDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchTreeDir != "" {
		_ = os.RemoveAll(benchTreeDir)
	}
	os.Exit(code)
}

// nopSink remembers nothing, so every file is hashed.
type nopSink struct{ ready func() }

func (nopSink) Upsert(*plumbv1.Fact)                  {}
func (nopSink) Keep(fact.Key)                         {}
func (nopSink) Hold(source.Scope)                     {}
func (nopSink) Delete(fact.Key)                       {}
func (nopSink) Begin(source.Scope)                    {}
func (nopSink) End(source.Scope)                      {}
func (s nopSink) Ready()                              { s.ready() }
func (nopSink) Coverage(source.Condition)             {}
func (nopSink) Lookup(fact.Key) (*plumbv1.Fact, bool) { return nil, false }

// BenchmarkInitialScan measures Run from start to Ready over a generated
// tree: watch every directory, lstat and hash every file.
func BenchmarkInitialScan(b *testing.B) {
	dir := benchTree(b)
	src, err := newSource(nil, source.Options{Raw: map[string]any{"paths": []string{dir}}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchTreeSize)
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		if err := src.Run(ctx, nopSink{ready: cancel}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchFiles, "ns/file")
}

// mapSink keeps facts, so a second scan takes the stat fast path.
type mapSink struct {
	nopSink
	facts map[fact.Key]*plumbv1.Fact
}

func (s *mapSink) Upsert(f *plumbv1.Fact) { s.facts[fact.KeyOf(f)] = f }
func (s *mapSink) Lookup(k fact.Key) (*plumbv1.Fact, bool) {
	f, ok := s.facts[k]
	return f, ok
}

// BenchmarkRescanUnchanged measures a rescan of the same tree against a
// state that already holds it: lstat only, no hashing.
func BenchmarkRescanUnchanged(b *testing.B) {
	dir := benchTree(b)
	src, err := newSource(nil, source.Options{Raw: map[string]any{"paths": []string{dir}}})
	if err != nil {
		b.Fatal(err)
	}
	sink := &mapSink{facts: map[fact.Key]*plumbv1.Fact{}}
	run := func() {
		ctx, cancel := context.WithCancel(context.Background())
		sink.ready = cancel
		if err := src.Run(ctx, sink); err != nil {
			b.Fatal(err)
		}
	}
	run()
	for k, f := range sink.facts { // as if observed long after the tree was made
		f.ObservedUnixNano = f.GetFile().GetCtimeUnixNano() + int64(source.RacyWindow)
		sink.facts[k] = f
	}
	opens := src.stats.opens.Load()
	b.ReportAllocs()
	for b.Loop() {
		run()
	}
	if n := src.stats.opens.Load() - opens; n != 0 {
		b.Fatalf("unchanged rescans opened %d files", n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchFiles, "ns/file")
}

// BenchmarkBareWalkHash is the yardstick the design measures the scan
// against: filepath.WalkDir feeding GOMAXPROCS workers that open each file
// and io.Copy it into SHA-256, with no watches, facts or sink.
func BenchmarkBareWalkHash(b *testing.B) {
	dir := benchTree(b)
	b.SetBytes(benchTreeSize)
	workers := runtime.GOMAXPROCS(0)
	for b.Loop() {
		paths := make(chan string, 256)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				buf := make([]byte, 128<<10)
				for p := range paths {
					f, err := os.Open(p)
					if err != nil {
						b.Error(err)
						continue
					}
					h := sha256.New()
					_, _ = io.CopyBuffer(h, f, buf)
					f.Close()
					h.Sum(nil)
				}
			})
		}
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if _, err := d.Info(); err == nil {
					paths <- p
				}
			}
			return err
		})
		close(paths)
		wg.Wait()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchFiles, "ns/file")
}

// BenchmarkBareWalk is the yardstick for an unchanged rescan: a walk that
// lstats every entry.
func BenchmarkBareWalk(b *testing.B) {
	dir := benchTree(b)
	for b.Loop() {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil {
				_, err = d.Info()
			}
			return err
		})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchFiles, "ns/file")
}

// latencySink signals the upsert of the awaited key and content.
type latencySink struct {
	nopSink
	want atomic.Pointer[target]
	seen chan struct{}
}

type target struct {
	key string
	sum [32]byte
}

func (s *latencySink) Upsert(f *plumbv1.Fact) {
	if w := s.want.Load(); w != nil && string(f.GetKey()) == w.key && bytes.Equal(f.GetFile().GetSha256(), w.sum[:]) {
		s.want.Store(nil)
		s.seen <- struct{}{}
	}
}

// BenchmarkEventLatency measures from a write returning to the source's
// upsert of the written file (the source's share of the write → webhook
// path), and reports its median and 99th percentile.
func BenchmarkEventLatency(b *testing.B) {
	for _, d := range []string{"0s", "10ms"} {
		b.Run("debounce="+d, func(b *testing.B) { benchEventLatency(b, d) })
	}
}

func benchEventLatency(b *testing.B, debounce string) {
	dir := b.TempDir()
	const files = 1000 // each write goes to a path with no open window
	for i := range files {
		if err := os.WriteFile(filepath.Join(dir, "f"+strconv.Itoa(i)), []byte("0"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	src, err := newSource(nil, source.Options{Raw: map[string]any{"paths": []string{dir}, "debounce": debounce}})
	if err != nil {
		b.Fatal(err)
	}
	ready := make(chan struct{})
	sink := &latencySink{nopSink: nopSink{ready: func() { close(ready) }}, seen: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	<-ready
	var lat []time.Duration
	content := []byte("0123456789")
	for i := 0; b.Loop(); i++ {
		p := filepath.Join(dir, "f"+strconv.Itoa(i%files))
		content[0] = byte('a' + i%26)
		content[1] = byte('a' + i/26%26)
		sum := sha256.Sum256(content)
		sink.want.Store(&target{key: p, sum: sum})
		t0 := time.Now()
		if err := os.WriteFile(p, content, 0o644); err != nil {
			b.Fatal(err)
		}
		<-sink.seen
		lat = append(lat, time.Since(t0))
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
