package file_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	_ "github.com/plumb-dev/plumb/agent/source/file" // registers "file"
	"github.com/plumb-dev/plumb/agent/state"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// The file source through the real runner and the real state database,
// whose commits lag behind what the source reports (fsync): after a
// seeded churn of the kinds of change package managers and editors make,
// the recorded facts must equal the disk. A synchronous fake sink cannot
// catch a decision taken on state not yet committed; this can. Before the
// runner answered Lookup from what was reported but not yet committed,
// files created and removed inside one commit stayed listed for good.
func TestChurnThroughRunnerMatchesDisk(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PLUMB_CHURN_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (PLUMB_CHURN_SEED)", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	root := filepath.Join(t.TempDir(), "etc")
	for d := range 4 {
		if err := os.MkdirAll(filepath.Join(root, fmt.Sprintf("d%d", d)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	db, _, stop := runFileSource(t, t.TempDir(), map[string]any{"paths": []string{root}, "debounce": "2ms"})
	defer stop()

	history := map[string][]string{}
	did := func(p, what string) {
		history[p] = append(history[p], what)
	}
	for i := range 3000 {
		d := filepath.Join(root, fmt.Sprintf("d%d", rng.IntN(4)))
		p := filepath.Join(d, fmt.Sprintf("f%d", rng.IntN(40)))
		content := []byte(fmt.Sprintf("%d %d\n", i, rng.Uint64()))
		switch rng.IntN(6) {
		case 0: // dpkg: write p.dpkg-new, rename it over p
			tmp := p + ".dpkg-new"
			_ = os.WriteFile(tmp, content, 0o644)
			_ = os.Rename(tmp, p)
			did(tmp, "write+rename away")
			did(p, "renamed over")
		case 1: // an editor's temp file, written then removed
			tmp := filepath.Join(d, fmt.Sprintf(".f%d.swp", i%7))
			_ = os.WriteFile(tmp, content, 0o600)
			_ = os.Remove(tmp)
			did(tmp, "write+remove")
		case 2: // a directory made, filled and removed at once
			sub := filepath.Join(d, fmt.Sprintf("new%d", i%5))
			_ = os.MkdirAll(sub, 0o755)
			_ = os.WriteFile(filepath.Join(sub, "x"), content, 0o644)
			_ = os.RemoveAll(sub)
			did(sub, "mkdir+fill+rmdir")
		case 3:
			_ = os.WriteFile(p, content, 0o644)
			did(p, "write")
		case 4:
			_ = os.Remove(p)
			did(p, "remove")
		case 5:
			_ = os.Chmod(p, fs.FileMode(0o600|rng.IntN(0o100)))
			did(p, "chmod")
		}
	}

	// The disk is the oracle. Wait until the recorded facts equal it.
	var diff []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		diff = compareWithDisk(t, db, root)
		if len(diff) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(diff) > 0 {
		p := diff[0][:strings.IndexByte(diff[0], ' ')]
		t.Fatalf("seed %d: %d paths differ from the disk; first: %s\nits history: %v\nall: %v",
			seed, len(diff), diff[0], history[p], diff)
	}
}

// compareWithDisk returns, per path, how the recorded facts under root
// differ from what lstat and sha256 of the disk say.
func compareWithDisk(t *testing.T, db *state.DB, root string) []string {
	t.Helper()
	disk := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // removed under us: compared on the next round
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		desc := fmt.Sprintf("mode=%o", info.Mode().Perm())
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			sum := sha256.Sum256(b)
			desc += fmt.Sprintf(" size=%d sha=%x", len(b), sum[:4])
		} else if info.IsDir() {
			desc += " dir"
		}
		disk[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]string{}
	err = db.Facts(plumbv1.FactKind_FACT_KIND_FILE, root, func(f *plumbv1.Fact) error {
		a := f.GetFile()
		desc := fmt.Sprintf("mode=%o", a.GetMode()&0o777)
		switch a.GetType() {
		case plumbv1.FileType_FILE_TYPE_REGULAR:
			desc += fmt.Sprintf(" size=%d sha=%x", a.GetSize(), a.GetSha256()[:min(4, len(a.GetSha256()))])
		case plumbv1.FileType_FILE_TYPE_DIRECTORY:
			desc += " dir"
		}
		recorded[fact.KeyOf(f).ID] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for p, want := range disk {
		if got, ok := recorded[p]; !ok {
			out = append(out, p+" missing: disk "+want)
		} else if got != want {
			out = append(out, p+" recorded "+got+", disk "+want)
		}
	}
	for p, got := range recorded {
		if _, ok := disk[p]; !ok {
			out = append(out, p+" phantom: recorded "+got+", not on disk")
		}
	}
	sort.Strings(out)
	return out
}

// TestRescanAfterOfflineChangesMatchesDisk runs the file source's initial
// scan over a seeded tree (a wide directory of more files than a walker
// looks up at once, and many small ones) on four walkers and hashers, stops
// it, changes the tree as a host would while the agent is down (rewrites,
// same-size rewrites, chmods, removals, new files and directories), and
// starts it again on the same state: the rescan, which keeps what the stat
// fast path says is unchanged, must leave the recorded facts equal to the
// disk.
func TestRescanAfterOfflineChangesMatchesDisk(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	root := filepath.Join(t.TempDir(), "tree")
	var files []string
	write := func(p string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, fmt.Appendf(nil, "%s %d\n", p, rng.Uint64()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 700 {
		p := filepath.Join(root, "wide", fmt.Sprintf("f%04d", i))
		write(p)
		files = append(files, p)
	}
	for i := range 400 {
		p := filepath.Join(root, fmt.Sprintf("d%d", rng.IntN(30)), fmt.Sprintf("e%d", rng.IntN(3)), fmt.Sprintf("g%04d", i))
		write(p)
		files = append(files, p)
	}
	// Past the racy window, so that the first scan's facts are settled
	// and the second keeps the unchanged files without reading them.
	time.Sleep(source.RacyWindow + 100*time.Millisecond)
	dbDir := t.TempDir()
	scan := func() (opens float64) {
		t.Helper()
		db, src, stop := runFileSource(t, dbDir, map[string]any{"paths": []string{root}, "workers": 4})
		defer stop()
		opened := src.(source.MetricsSource).Collectors()[0]
		if diff := compareWithDisk(t, db, root); len(diff) > 0 {
			t.Fatalf("seed %d: %d paths differ from the disk; first: %s", seed, len(diff), diff[0])
		}
		return counterValue(t, opened)
	}
	if n := scan(); n != float64(len(files)) {
		t.Fatalf("first scan opened %v files, want %d", n, len(files))
	}
	changed := 1 // newdir/sub/x
	for _, p := range files {
		switch rng.IntN(12) {
		case 0:
			changed++
			write(p) // new content, likely a new size
		case 1:
			changed++
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[0] ^= 1 // same size, same second
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		case 2:
			changed++ // ctime moved: read again
			if err := os.Chmod(p, 0o600); err != nil {
				t.Fatal(err)
			}
		case 3:
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		case 4:
			changed++
			write(p + ".new")
		}
	}
	write(filepath.Join(root, "newdir", "sub", "x"))
	// Only what changed is read again: the rest passed the fast path on
	// what the walkers looked up.
	if n := scan(); n != float64(changed) {
		t.Fatalf("seed %d: rescan opened %v files, want the %d changed or new", seed, n, changed)
	}
}

// counterValue reads the one counter c collects.
func counterValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestFirstScanNotesHardLinks: the first scan takes a regular file's
// metadata from the fstat of its open descriptor, not an lstat. A file
// with names in two directories, scanned so, is rewritten in place
// through one of them after the scan; the other name's recorded fact must
// follow (the disk says both changed).
func TestFirstScanNotesHardLinks(t *testing.T) {
	root := filepath.Join(t.TempDir(), "tree")
	for _, d := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	one, other := filepath.Join(root, "a", "one"), filepath.Join(root, "b", "other")
	if err := os.WriteFile(one, []byte("first\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(one, other); err != nil {
		t.Fatal(err)
	}
	db, _, stop := runFileSource(t, t.TempDir(), map[string]any{"paths": []string{root}, "debounce": "2ms"})
	defer stop()
	f, err := os.OpenFile(one, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("second, longer\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var diff []string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if diff = compareWithDisk(t, db, root); len(diff) == 0 {
			return
		}
	}
	t.Fatalf("recorded facts differ from the disk: %v", diff)
}

// runFileSource runs the file source with the raw options through the real
// runner into a real state database in dbDir, until its initial snapshot
// is recorded; stop ends it and closes the database.
func runFileSource(t *testing.T, dbDir string, raw map[string]any) (*state.DB, source.Source, func()) {
	t.Helper()
	db, err := state.Open(dbDir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := source.Build(slog.New(slog.DiscardHandler), map[string]source.Options{"file": {Raw: raw}})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	run := source.NewRunner(slog.New(slog.DiscardHandler), db, src, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run.Run(ctx) }()
	stop := func() {
		cancel()
		<-done
		db.Close()
	}
	select {
	case <-run.Ready():
	case <-time.After(30 * time.Second):
		stop()
		t.Fatal("no initial snapshot")
	}
	return db, src["file"], stop
}
