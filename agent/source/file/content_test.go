package file

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/state"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// contentRig runs the file source through the real runner into a real
// state database, as the agent does.
type contentRig struct {
	t    *testing.T
	db   *state.DB
	seen uint64 // deltas up to this seq have been looked at
}

func startContentRig(t *testing.T, raw map[string]any) *contentRig {
	t.Helper()
	db, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := newSource(testLogger(t), source.Options{Raw: raw})
	if err != nil {
		t.Fatal(err)
	}
	runner := source.NewRunner(testLogger(t), db, map[string]source.Source{"file": src}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		db.Close()
	})
	select {
	case <-runner.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("initial snapshot not recorded")
	}
	return &contentRig{t: t, db: db}
}

// deltas returns the spooled deltas after the last call's.
func (r *contentRig) deltas() []*plumbv1.Delta {
	ds, err := r.db.Pending(r.seen, 1<<20)
	if err != nil {
		r.t.Fatal(err)
	}
	if n := len(ds); n > 0 {
		r.seen = ds[n-1].GetSeq()
	}
	return ds
}

// await returns the next upsert of path p whose fact satisfies ok.
func (r *contentRig) await(p string, ok func(*plumbv1.FileAttrs) bool) *plumbv1.FileAttrs {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, d := range r.deltas() {
			if d.GetOp() == plumbv1.DeltaOp_DELTA_OP_UPSERT && string(d.GetFact().GetKey()) == p && ok(d.GetFact().GetFile()) {
				return d.GetFact().GetFile()
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.t.Fatalf("no upsert of %s as wanted", p)
	return nil
}

func sumOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func hasSum(s string) func(*plumbv1.FileAttrs) bool {
	return func(a *plumbv1.FileAttrs) bool { return string(a.GetSha256()) == string(sumOf(s)) }
}

func kept(t *testing.T, db *state.DB, p string) (string, bool) {
	t.Helper()
	b, ok := db.KeptContent(fact.Key{Kind: fileKind, ID: p})
	return string(b), ok
}

// TestContentKeptAndDiffed checks what the agent keeps of opted-in files
// and what a live change of each sends: a diff whose -/+ lines are the
// lines that changed, and nothing for a file not readable by all, a
// binary or too large one, or one outside the globs.
func TestContentKeptAndDiffed(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 0))
	root := t.TempDir()
	kept0 := filepath.Join(root, "conf", "app.conf")
	private := filepath.Join(root, "conf", "shadow")
	binary := filepath.Join(root, "conf", "blob")
	large := filepath.Join(root, "conf", "large.conf")
	outside := filepath.Join(root, "other", "x.conf")
	mkdirAll(t, filepath.Dir(kept0))
	mkdirAll(t, filepath.Dir(outside))

	var lines []string
	for i := range 40 {
		lines = append(lines, fmt.Sprintf("setting_%d = %d", i, rnd.IntN(1000)))
	}
	text := strings.Join(lines, "\n") + "\n"
	writeFile(t, kept0, text)
	if err := os.WriteFile(private, []byte("root:$6$salt$hash:19000::::::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, binary, "\x7fELF\x00\x01")
	writeFile(t, large, strings.Repeat("x = y\n", 400))
	writeFile(t, outside, "a = 1\n")

	r := startContentRig(t, map[string]any{
		"paths":   []string{root},
		"content": map[string]any{"paths": []string{root + "/conf/**"}, "max_size": 1024},
	})
	// The snapshot keeps, and sends no content.
	for _, d := range r.deltas() {
		if c := d.GetFact().GetFile().GetContent(); c != nil {
			t.Fatalf("snapshot delta of %s carries content %v", d.GetFact().GetKey(), c)
		}
	}
	if got, ok := kept(t, r.db, kept0); !ok || got != text {
		t.Fatalf("kept %q, %v; want the file's content", got, ok)
	}
	for _, p := range []string{private, binary, large, outside} {
		if _, ok := kept(t, r.db, p); ok {
			t.Errorf("content of %s kept", p)
		}
	}

	// Change a few lines: the diff shows exactly those.
	changed := map[int]string{}
	for _, i := range rnd.Perm(len(lines))[:1+rnd.IntN(5)] {
		changed[i] = fmt.Sprintf("setting_%d = changed %d", i, rnd.IntN(1000))
	}
	next := append([]string(nil), lines...)
	for i, l := range changed {
		next[i] = l
	}
	text2 := strings.Join(next, "\n") + "\n"
	writeFile(t, kept0, text2)
	a := r.await(kept0, hasSum(text2))
	c := a.GetContent()
	if c.GetState() != plumbv1.ContentState_CONTENT_STATE_DIFF || c.GetRedacted() {
		t.Fatalf("content %v, want a diff without redactions", c)
	}
	var minus, plus []string
	for _, l := range strings.Split(c.GetUnifiedDiff(), "\n") {
		switch {
		case strings.HasPrefix(l, "---"), strings.HasPrefix(l, "+++"):
		case strings.HasPrefix(l, "-"):
			minus = append(minus, l[1:])
		case strings.HasPrefix(l, "+"):
			plus = append(plus, l[1:])
		}
	}
	var wantMinus, wantPlus []string
	for i := range lines {
		if l, ok := changed[i]; ok {
			wantMinus, wantPlus = append(wantMinus, lines[i]), append(wantPlus, l)
		}
	}
	if strings.Join(minus, "\n") != strings.Join(wantMinus, "\n") || strings.Join(plus, "\n") != strings.Join(wantPlus, "\n") {
		t.Fatalf("diff:\n%s\nwant - %q\nwant + %q", c.GetUnifiedDiff(), wantMinus, wantPlus)
	}
	if got, _ := kept(t, r.db, kept0); got != text2 {
		t.Fatalf("kept %q after the change, want the new content", got)
	}
	// The stored fact, which a resync sends, carries no content.
	if f, ok := r.db.Lookup(fact.Key{Kind: fileKind, ID: kept0}); !ok || f.GetFile().GetContent() != nil {
		t.Fatalf("stored fact %v carries content", f)
	}

	// A secret line is redacted on both sides.
	text3 := strings.Replace(text2, lines[0]+"\n", "password = hunter2\n", 1)
	if text3 == text2 {
		text3 = "password = hunter2\n" + text2
	}
	writeFile(t, kept0, text3)
	c = r.await(kept0, hasSum(text3)).GetContent()
	if !c.GetRedacted() || strings.Contains(c.GetUnifiedDiff(), "hunter2") || !strings.Contains(c.GetUnifiedDiff(), "+password = <redacted>") {
		t.Fatalf("secret line not redacted:\n%s", c.GetUnifiedDiff())
	}

	// Not readable by all: no content, and nothing kept.
	if err := os.WriteFile(private, []byte("root:$6$other$hash:19001::::::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c := r.await(private, hasSum("root:$6$other$hash:19001::::::\n")).GetContent(); c != nil {
		t.Fatalf("mode 0600 file sent content %v", c)
	}
	writeFile(t, binary, "\x7fELF\x00\x02")
	if c := r.await(binary, hasSum("\x7fELF\x00\x02")).GetContent(); c.GetState() != plumbv1.ContentState_CONTENT_STATE_BINARY || c.GetUnifiedDiff() != "" {
		t.Fatalf("binary file: content %v", c)
	}
	big := strings.Repeat("x = z\n", 400)
	writeFile(t, large, big)
	if c := r.await(large, hasSum(big)).GetContent(); c.GetState() != plumbv1.ContentState_CONTENT_STATE_TOO_LARGE || c.GetUnifiedDiff() != "" {
		t.Fatalf("large file: content %v", c)
	}
	writeFile(t, outside, "a = 2\n")
	if c := r.await(outside, hasSum("a = 2\n")).GetContent(); c != nil {
		t.Fatalf("file outside the globs: content %v", c)
	}

	// A new file shows its whole content added.
	fresh := filepath.Join(root, "conf", "new.conf")
	writeFile(t, fresh, "one\ntwo\n")
	c = r.await(fresh, hasSum("one\ntwo\n")).GetContent()
	if c.GetState() != plumbv1.ContentState_CONTENT_STATE_DIFF || !strings.HasSuffix(c.GetUnifiedDiff(), "+one\n+two\n") {
		t.Fatalf("new file: content %v", c)
	}

	// Made private: nothing sent, and the kept content goes.
	if err := os.Chmod(kept0, 0o640); err != nil {
		t.Fatal(err)
	}
	if c := r.await(kept0, func(a *plumbv1.FileAttrs) bool { return a.GetMode() == 0o640 }).GetContent(); c != nil {
		t.Fatalf("chmod 0640: content %v", c)
	}
	if _, ok := kept(t, r.db, kept0); ok {
		t.Fatal("content of a file made private is still kept")
	}

	// Deleting a file drops its kept content.
	if _, ok := kept(t, r.db, fresh); !ok {
		t.Fatal("new file's content not kept")
	}
	if err := os.Remove(fresh); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "kept content of a deleted file to go", func() bool { _, ok := kept(t, r.db, fresh); return !ok })
}

// TestContentOff checks that content: {enabled: false} keeps nothing.
func TestContentOff(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "a.conf")
	writeFile(t, p, "a\n")
	r := startContentRig(t, map[string]any{"paths": []string{root}, "content": map[string]any{"enabled": false, "paths": []string{root + "/**"}}})
	writeFile(t, p, "b\n")
	if c := r.await(p, hasSum("b\n")).GetContent(); c != nil {
		t.Fatalf("content kept while off: %v", c)
	}
	if _, ok := kept(t, r.db, p); ok {
		t.Fatal("content kept while off")
	}
}

// TestContentBudget checks that kept content stays within max_total.
func TestContentBudget(t *testing.T) {
	root := t.TempDir()
	for i := range 20 {
		writeFile(t, filepath.Join(root, fmt.Sprintf("f%02d", i)), strings.Repeat(fmt.Sprintf("line %d\n", i), 50))
	}
	r := startContentRig(t, map[string]any{"paths": []string{root},
		"content": map[string]any{"paths": []string{root + "/**"}, "max_size": 1024, "max_total": 2048}})
	total, n := 0, 0
	for i := range 20 {
		if b, ok := kept(t, r.db, filepath.Join(root, fmt.Sprintf("f%02d", i))); ok {
			total += len(b) + sha256.Size
			n++
		}
	}
	if total > 2048 || n == 0 {
		t.Fatalf("kept %d files, %d bytes; want some, within 2048", n, total)
	}
}

// TestCaptureBudgetKeepsEveryFile scans a tree of kept files through a
// capture budget far smaller than the files together (and than some files
// alone): every file's content must still be kept, byte for byte as on
// disk, and the scan must not stall waiting for budget.
func TestCaptureBudgetKeepsEveryFile(t *testing.T) {
	old := maxCaptureInflight
	maxCaptureInflight = 2048
	t.Cleanup(func() { maxCaptureInflight = old })
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 1))
	root := t.TempDir()
	want := map[string]string{}
	for i := range 300 {
		p := filepath.Join(root, fmt.Sprintf("d%d", i%7), fmt.Sprintf("f%03d.conf", i))
		mkdirAll(t, filepath.Dir(p))
		body := strings.Repeat(fmt.Sprintf("key_%d = %d\n", i, rnd.IntN(1000)), 1+rnd.IntN(300))
		writeFile(t, p, body)
		want[p] = body
	}
	r := startContentRig(t, map[string]any{"paths": []string{root},
		"content": map[string]any{"paths": []string{root + "/**"}, "max_size": 8192, "max_total": 8 << 20}})
	for p, body := range want {
		got, ok := kept(t, r.db, p)
		if !ok && len(body) <= 8192 {
			t.Fatalf("%s (%d bytes) not kept", p, len(body))
		}
		if ok && got != body {
			t.Fatalf("%s kept %q..., disk has %q...", p, got[:min(len(got), 20)], body[:20])
		}
	}
}
