package file

import (
	"bytes"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/plumb-dev/plumb/pkg/fact"
	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// An inotify queue overflow makes the source say so and rescan every root.
func TestQueueOverflowRescans(t *testing.T) {
	base := t.TempDir()
	r1, r2 := filepath.Join(base, "r1"), filepath.Join(base, "r2")
	mkdirAll(t, r1+"/sub")
	mkdirAll(t, r2)
	writeFile(t, r1+"/sub/f", "one")
	writeFile(t, r2+"/g", "two")
	errs := make(chan error)
	r := startSource(t, map[string]any{"paths": []string{r1, r2}}, hooks{errs: errs})
	s := r.sink

	// Simulate changes inotify lost: the state forgets a fact, and a fact
	// for a file that is not there appears.
	s.mu.Lock()
	delete(s.facts, fact.Key{Kind: fileKind, ID: r1 + "/sub/f"})
	s.facts[fact.Key{Kind: fileKind, ID: r2 + "/ghost"}] = s.facts[fact.Key{Kind: fileKind, ID: r2 + "/g"}]
	s.mu.Unlock()

	m := s.mark()
	errs <- fsnotify.ErrEventOverflow
	waitFor(t, "rescan after overflow", func() bool {
		return countCoverage(s.since(m), stateOK, reasonOverflow, "") == 1
	})
	var seq []string
	for _, c := range s.since(m) {
		switch c.op {
		case "coverage":
			seq = append(seq, c.op+" "+c.cond.Reason+" "+c.cond.State.String())
		case "begin", "end":
			seq = append(seq, c.op+" "+c.key)
		}
	}
	want := []string{
		"coverage queue_overflow " + stateDegraded.String(),
		"begin " + r1, "end " + r1,
		"begin " + r2, "end " + r2,
		"coverage queue_overflow " + stateOK.String(),
	}
	if !equalStrings(seq, want) {
		t.Errorf("after overflow:\n got %q\nwant %q", seq, want)
	}
	if !hasContent(s, r1+"/sub/f", []byte("one")) {
		t.Errorf("lost fact not restored by the rescan")
	}
	if _, ok := s.get(r2 + "/ghost"); ok {
		t.Errorf("stale fact not deleted by the rescan")
	}
	if n := r.src.stats.overflows.Load(); n != 1 {
		t.Errorf("overflows = %d", n)
	}
	// Events still flow afterwards.
	writeFile(t, r1+"/sub/new", "new")
	waitFor(t, "event after rescan", func() bool { return hasContent(s, r1+"/sub/new", []byte("new")) })
	// Another error is only logged.
	m = s.mark()
	errs <- os.ErrInvalid
	writeFile(t, r2+"/h", "h")
	waitFor(t, "event after a plain error", func() bool { return hasContent(s, r2+"/h", []byte("h")) })
	for _, c := range s.since(m) {
		if c.op == "begin" {
			t.Errorf("a plain watcher error caused a rescan")
		}
	}
}

// Out of inotify watches: the subtree is polled, loudly, until a watch can
// be added again.
func TestWatchLimitFallsBackToPolling(t *testing.T) {
	root := t.TempDir()
	limited := filepath.Join(root, "limited")
	mkdirAll(t, limited+"/inner")
	writeFile(t, limited+"/inner/f", "before")
	var full atomic.Bool
	full.Store(true)
	addWatch := func(w *fsnotify.Watcher, p string) error {
		if full.Load() && withinOrSame(p, limited) {
			return unix.ENOSPC
		}
		return w.Add(p)
	}
	r := startSource(t, map[string]any{"paths": []string{root}, "poll_interval": "30ms"}, hooks{addWatch: addWatch})
	s := r.sink
	if !s.hasCoverage(stateDegraded, reasonWatchLimit, limited) {
		t.Fatalf("no DEGRADED watch_limit for %s:\n%s", limited, describe(s.log()))
	}
	if !hasContent(s, limited+"/inner/f", []byte("before")) {
		t.Errorf("unwatched subtree not scanned")
	}
	if n := r.src.stats.unwatched.Load(); n != 1 {
		t.Errorf("unwatched = %d, want 1 (nothing under it is tried)", n)
	}

	// A change in the polled subtree shows up through a poll: a snapshot
	// of its scope.
	m := s.mark()
	writeFile(t, limited+"/inner/f", "polled")
	waitFor(t, "polled change", func() bool { return hasContent(s, limited+"/inner/f", []byte("polled")) })
	if countOps(s.since(m), "begin", limited) == 0 {
		t.Errorf("change not found by a poll of %s:\n%s", limited, describe(s.since(m)))
	}
	if countCoverage(s.since(m), stateDegraded, reasonWatchLimit, limited) != 0 {
		t.Errorf("watch_limit reported again on each poll")
	}

	// Watches free up: the next poll watches the subtree again.
	full.Store(false)
	waitFor(t, "OK watch_limit", func() bool { return s.hasCoverage(stateOK, reasonWatchLimit, limited) })
	writeFile(t, limited+"/inner/g", "event")
	waitFor(t, "event in re-watched subtree", func() bool { return hasContent(s, limited+"/inner/g", []byte("event")) })
}

// Unreadable entries are reported BLIND and skipped; the rest goes on.
func TestUnreadableEntries(t *testing.T) {
	root := t.TempDir()
	locked := filepath.Join(root, "locked")
	mkdirAll(t, locked)
	writeFile(t, locked+"/inside", "hidden")
	secret := filepath.Join(root, "secret")
	writeFile(t, secret, "can't read me")
	writeFile(t, root+"/fine", "fine")
	var denied atomic.Bool
	denied.Store(true)
	h := denying(&denied, locked, secret)
	r := startSource(t, map[string]any{"paths": []string{root}}, h)
	s := r.sink
	for _, p := range []string{locked, secret} {
		if !s.hasCoverage(stateBlind, reasonUnreadable, p) {
			t.Errorf("no BLIND unreadable for %s", p)
		}
	}
	if n := r.src.stats.unreadable.Load(); n != 2 {
		t.Errorf("unreadable count = %d, want 2", n)
	}
	if !hasContent(s, root+"/fine", []byte("fine")) {
		t.Errorf("readable sibling not reported")
	}
	if f, ok := s.get(locked); !ok || f.GetFile().GetType() != plumbv1.FileType_FILE_TYPE_DIRECTORY {
		t.Errorf("unreadable directory itself not reported: %v", f)
	}
	if _, ok := s.get(locked + "/inside"); ok {
		t.Errorf("reported a file of an unlistable directory")
	}
	if f, ok := s.get(secret); !ok || f.GetFile().GetSha256() != nil || f.GetFile().GetSize() != int64(len("can't read me")) {
		t.Errorf("unreadable file: %v, want metadata without sha256", f)
	}

	// Readable again: a change to each clears its condition.
	denied.Store(false)
	if err := unix.Chmod(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, secret, "now readable")
	waitFor(t, "readable again", func() bool {
		return s.hasCoverage(stateOK, reasonUnreadable, locked) && s.hasCoverage(stateOK, reasonUnreadable, secret) &&
			hasContent(s, locked+"/inside", []byte("hidden")) && hasContent(s, secret, []byte("now readable"))
	})
}

// denying returns hooks that, while denied holds, refuse to list dir and
// to open file, as permissions would.
func denying(denied *atomic.Bool, dir, file string) hooks {
	return hooks{
		openDir: func(p string) (int, error) {
			if denied.Load() && p == dir {
				return -1, unix.EACCES
			}
			return openDirectory(p)
		},
		openFile: func(p string) (int, error) {
			if denied.Load() && p == file {
				return -1, unix.EACCES
			}
			return openRegular(p)
		},
	}
}

// A file that vanishes, or turns into a FIFO, between lstat and open is
// not an error: it is skipped, or recorded by type, and never blocks.
func TestFileSwappedDuringScan(t *testing.T) {
	root := t.TempDir()
	vanish := filepath.Join(root, "vanish")
	swap := filepath.Join(root, "swap")
	writeFile(t, vanish, "v")
	writeFile(t, swap, "s")
	writeFile(t, root+"/stay", "stay")
	h := hooks{openFile: func(p string) (int, error) {
		switch p {
		case vanish:
			_ = os.Remove(p)
		case swap:
			_ = os.Remove(p)
			if err := unix.Mkfifo(p, 0o600); err != nil {
				return -1, err
			}
		}
		return openRegular(p)
	}}
	r := startSource(t, map[string]any{"paths": []string{root}}, h)
	s := r.sink
	if _, ok := s.get(vanish); ok {
		t.Errorf("vanished file reported")
	}
	if f, ok := s.get(swap); !ok || f.GetFile().GetType() != plumbv1.FileType_FILE_TYPE_FIFO {
		t.Errorf("swapped-in FIFO: %v, want a FIFO fact", f)
	}
	if !hasContent(s, root+"/stay", []byte("stay")) {
		t.Errorf("scan did not go on")
	}
}

// A rescan that cannot read what it could read before keeps what was
// known: the children of a directory it cannot list, the content hash of
// a file it cannot open. Before, the snapshot deleted the children (false
// REMOVED drift) and upserted the file without a hash (false MODIFIED).
func TestRescanKeepsWhatItCannotRead(t *testing.T) {
	root := t.TempDir()
	locked := filepath.Join(root, "locked")
	mkdirAll(t, locked+"/sub")
	writeFile(t, locked+"/inside", "hidden")
	writeFile(t, locked+"/sub/deeper", "deeper")
	secret := filepath.Join(root, "secret")
	writeFile(t, secret, "can't read me")
	var denied atomic.Bool
	errs := make(chan error)
	h := denying(&denied, locked, secret)
	h.errs = errs
	r := startSource(t, map[string]any{"paths": []string{root}}, h)
	s := r.sink
	before := s.keysUnder(root)
	denied.Store(true)
	// A touch, so the rescan cannot take the file's hash from its stat.
	now := time.Now()
	if err := os.Chtimes(secret, now, now); err != nil {
		t.Fatal(err)
	}
	m := s.mark()
	errs <- fsnotify.ErrEventOverflow
	waitFor(t, "rescan after overflow", func() bool {
		return countCoverage(s.since(m), stateOK, reasonOverflow, "") == 1
	})
	if !s.hasCoverage(stateBlind, reasonUnreadable, locked) || !s.hasCoverage(stateBlind, reasonUnreadable, secret) {
		t.Errorf("gaps not reported:\n%s", describe(s.since(m)))
	}
	after := s.keysUnder(root)
	for p, f := range before {
		g, ok := after[p]
		switch {
		case !ok:
			t.Errorf("%s deleted by a rescan that could not see it", p)
		case !bytes.Equal(g.GetFile().GetSha256(), f.GetFile().GetSha256()):
			t.Errorf("%s: content hash %x after the rescan, was %x", p, g.GetFile().GetSha256(), f.GetFile().GetSha256())
		}
	}
	if !hasContent(s, secret, []byte("can't read me")) {
		t.Errorf("unreadable file lost its last known content")
	}

	// Readable again, the stat fast path must not take the kept hash
	// for one it verified: the file is hashed again.
	denied.Store(false)
	writeFile(t, locked+"/inside", "changed while hidden")
	if err := os.Chmod(locked, 0o750); err != nil {
		t.Fatal(err)
	}
	opens := r.src.stats.opens.Load()
	errs <- fsnotify.ErrEventOverflow
	waitFor(t, "the changed file and the readable one", func() bool {
		return hasContent(s, locked+"/inside", []byte("changed while hidden")) && r.src.stats.opens.Load() > opens
	})
	// The gap closes when the rescan that read the file again reports its
	// coverage, which may come after the changed file.
	waitFor(t, "file readable again, its gap closed", func() bool {
		return s.hasCoverage(stateOK, reasonUnreadable, secret)
	})
}
