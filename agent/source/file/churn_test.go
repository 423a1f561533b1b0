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
	db, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	src, err := source.Build(slog.New(slog.DiscardHandler), map[string]source.Options{
		"file": {Raw: map[string]any{"paths": []string{root}, "debounce": "2ms"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	run := source.NewRunner(slog.New(slog.DiscardHandler), db, src, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-run.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("no initial snapshot")
	}

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
