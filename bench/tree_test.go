package bench

import (
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// tree is a generated directory tree.
type tree struct {
	dir   string
	files int
	dirs  int // including dir itself
	bytes int64
	made  time.Time
}

// facts is how many facts the file source reports for the tree: one per
// file and one per directory, the root included.
func (t *tree) facts() uint64 { return uint64(t.files + t.dirs) }

// treeKind picks the size mix of a generated tree.
type treeKind int

const (
	// mixedSizes: mostly config-like files of 100 B–8 KiB and about one in
	// 83 of 64 KiB–1 MiB, ~10.7 KiB a file on average (100k files ≈ 1 GiB).
	mixedSizes treeKind = iota
	// tinyFiles: a few bytes each, for benchmarks that count facts, not bytes.
	tinyFiles
)

const (
	filesPerDir = 100
	dirsPerTop  = 20
	// largeEvery is 1 in how many files is large in a mixed tree.
	largeEvery = 83
)

type treeSpec struct {
	kind  treeKind
	files int
}

// trees caches generated trees for the whole run: generating 1 GiB takes
// longer than most of the measurements.
var trees struct {
	mu sync.Mutex
	m  map[treeSpec]*tree
}

// getTree returns the run's tree of spec, generating it on first use. The
// tree is deterministic: the same spec gives the same paths, sizes and
// contents in every run.
func getTree(b *testing.B, kind treeKind, files int) *tree {
	b.Helper()
	trees.mu.Lock()
	defer trees.mu.Unlock()
	spec := treeSpec{kind, files}
	if t := trees.m[spec]; t != nil {
		return t
	}
	start := time.Now()
	t, err := generate(filepath.Join(workDir, fmt.Sprintf("tree-%d-%d", kind, files)), kind, files)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Printf("generated tree %s: %d files, %d dirs, %.1f MiB in %v\n",
		t.dir, t.files, t.dirs, float64(t.bytes)/(1<<20), time.Since(start).Round(time.Millisecond))
	if trees.m == nil {
		trees.m = map[treeSpec]*tree{}
	}
	trees.m[spec] = t
	return t
}

func generate(dir string, kind treeKind, files int) (*tree, error) {
	t := &tree{dir: dir, files: files, dirs: 1}
	rng := rand.New(rand.NewPCG(0x706c756d62, uint64(kind)))
	// Contents are slices of one random block, each behind a header that
	// names the file, so no two files share a digest.
	block := make([]byte, 1<<20+8<<10)
	for i := range block {
		block[i] = byte(rng.Uint32())
	}
	// Plan every file in order (the random stream fixes sizes and
	// contents), then write them with two workers.
	type file struct {
		path      string
		header    string
		off, size int
	}
	plan := make([]file, files)
	var cur string
	for i := range files {
		if i%filesPerDir == 0 {
			cur = filepath.Join(dir, fmt.Sprintf("t%03d", i/(filesPerDir*dirsPerTop)), fmt.Sprintf("d%02d", i/filesPerDir%dirsPerTop))
			if i%(filesPerDir*dirsPerTop) == 0 {
				t.dirs++
			}
			t.dirs++
			if err := os.MkdirAll(cur, 0o755); err != nil {
				return nil, fmt.Errorf("generate tree: %w", err)
			}
		}
		f := file{path: filepath.Join(cur, fmt.Sprintf("f%06d.conf", i)), header: fmt.Sprintf("# generated file %d\n", i)}
		switch {
		case kind == tinyFiles:
			f.size = len(f.header)
		case i%largeEvery == largeEvery/2:
			f.size = 64<<10 + rng.IntN(1<<20-64<<10+1)
		default:
			f.size = 100 + rng.IntN(8<<10-100+1)
		}
		if n := f.size - len(f.header); n > 0 {
			f.off = rng.IntN(len(block) - n + 1)
		}
		plan[i] = f
		t.bytes += int64(max(f.size, len(f.header)))
	}
	var g errgroup.Group
	for w := range 2 {
		g.Go(func() error {
			buf := make([]byte, 0, len(block))
			for i := w; i < len(plan); i += 2 {
				f := plan[i]
				buf = append(buf[:0], f.header...)
				if n := f.size - len(buf); n > 0 {
					buf = append(buf, block[f.off:f.off+n]...)
				}
				if err := os.WriteFile(f.path, buf, 0o644); err != nil {
					return fmt.Errorf("generate tree: %w", err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	t.made = time.Now()
	return t, nil
}

// warm reads every file of t once so that every contender starts with the
// tree in the page cache, and waits until the tree is older than the
// agent's racy window (2 s), as a tree that was not just written is.
func warm(b *testing.B, t *tree) {
	b.Helper()
	paths := make(chan string, 256)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			buf := make([]byte, 128<<10)
			for p := range paths {
				if f, err := os.Open(p); err == nil {
					_, _ = io.CopyBuffer(io.Discard, f, buf)
					f.Close()
				}
			}
		})
	}
	err := filepath.WalkDir(t.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			paths <- p
		}
		return err
	})
	close(paths)
	wg.Wait()
	if err != nil {
		b.Fatal(err)
	}
	if wait := 3*time.Second - time.Since(t.made); wait > 0 {
		time.Sleep(wait)
	}
}
