package file

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

func TestEventsOnFiles(t *testing.T) {
	root := t.TempDir()
	r := startSource(t, map[string]any{"paths": []string{root}}, hooks{})
	s := r.sink
	f := filepath.Join(root, "hosts")

	t.Run("create", func(t *testing.T) {
		writeFile(t, f, "one\n")
		waitFor(t, "created file", func() bool { return hasContent(s, f, []byte("one\n")) })
	})
	t.Run("write", func(t *testing.T) {
		fh, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fh.WriteString("two\n"); err != nil {
			t.Fatal(err)
		}
		fh.Close()
		waitFor(t, "appended content", func() bool { return hasContent(s, f, []byte("one\ntwo\n")) })
	})
	t.Run("chmod", func(t *testing.T) {
		if err := unix.Chmod(f, 0o600); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "new mode", func() bool {
			fa, ok := s.get(f)
			return ok && fa.GetFile().GetMode() == 0o600
		})
	})
	t.Run("touch", func(t *testing.T) {
		before, _ := s.get(f)
		m := s.mark()
		if err := unix.UtimesNano(f, []unix.Timespec{{Sec: 1}, {Sec: 1}}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "touched file", func() bool {
			fa, ok := s.get(f)
			return ok && fa.GetFile().GetMtimeUnixNano() == 1e9
		})
		after, _ := s.get(f)
		if !bytes.Equal(before.GetDigest(), after.GetDigest()) {
			t.Errorf("touch changed the digest")
		}
		if n := countOps(s.since(m), "upsert", f); n < 1 {
			t.Errorf("touch: %d upserts", n)
		}
	})
	t.Run("rename", func(t *testing.T) {
		g := filepath.Join(root, "hosts.renamed")
		if err := os.Rename(f, g); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "rename: old gone, new present", func() bool {
			_, oldOK := s.get(f)
			return !oldOK && hasContent(s, g, []byte("one\ntwo\n"))
		})
		if err := os.Rename(g, f); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "rename back", func() bool {
			_, newOK := s.get(g)
			return !newOK && hasContent(s, f, []byte("one\ntwo\n"))
		})
	})
	t.Run("atomic save", func(t *testing.T) {
		tmp := filepath.Join(root, ".hosts.swp")
		writeFile(t, tmp, "saved\n")
		m := s.mark()
		if err := os.Rename(tmp, f); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "saved content", func() bool { return hasContent(s, f, []byte("saved\n")) })
		waitFor(t, "temp file gone", func() bool { _, ok := s.get(tmp); return !ok })
		if n := countOps(s.since(m), "upsert", f); n != 1 {
			t.Errorf("atomic save: %d upserts of the target, want 1:\n%s", n, describe(s.since(m)))
		}
	})
	t.Run("delete", func(t *testing.T) {
		m := s.mark()
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "deleted", func() bool { _, ok := s.get(f); return !ok })
		if n := countOps(s.since(m), "delete", f); n != 1 {
			t.Errorf("%d deletes, want 1", n)
		}
	})
	t.Run("non-UTF-8 name", func(t *testing.T) {
		odd := filepath.Join(root, "caf\xe9\xff")
		writeFile(t, odd, "latin1")
		waitFor(t, "odd name", func() bool { return hasContent(s, odd, []byte("latin1")) })
		if err := os.Remove(odd); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "odd name deleted", func() bool { _, ok := s.get(odd); return !ok })
	})
	t.Run("burst", func(t *testing.T) {
		b := filepath.Join(root, "burst")
		for i := range 200 {
			writeFile(t, b, "v"+strconv.Itoa(i))
		}
		waitFor(t, "last write of a burst", func() bool { return hasContent(s, b, []byte("v199")) })
	})
	t.Run("special files", func(t *testing.T) {
		fifo := filepath.Join(root, "newfifo")
		if err := unix.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "fifo", func() bool {
			fa, ok := s.get(fifo)
			return ok && fa.GetFile().GetType() == plumbv1.FileType_FILE_TYPE_FIFO
		})
		link := filepath.Join(root, "newlink")
		if err := os.Symlink("hosts", link); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "symlink", func() bool {
			fa, ok := s.get(link)
			return ok && string(fa.GetFile().GetLinkTarget()) == "hosts"
		})
	})
}

func TestEventsOnDirectories(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	mkdirAll(t, root)
	mkdirAll(t, filepath.Join(outside, "in", "deep"))
	writeFile(t, filepath.Join(outside, "in", "deep", "f"), "moved in")
	r := startSource(t, map[string]any{"paths": []string{root}}, hooks{})
	s := r.sink

	t.Run("move into the tree", func(t *testing.T) {
		if err := os.Rename(filepath.Join(outside, "in"), filepath.Join(root, "in")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "moved-in subtree", func() bool { return hasContent(s, root+"/in/deep/f", []byte("moved in")) })
		// The moved-in tree is watched.
		writeFile(t, root+"/in/deep/g", "later")
		waitFor(t, "file in moved-in dir", func() bool { return hasContent(s, root+"/in/deep/g", []byte("later")) })
	})
	t.Run("rename within the tree", func(t *testing.T) {
		if err := os.Rename(root+"/in", root+"/moved"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "renamed subtree", func() bool {
			return len(s.keysUnder(root+"/in")) == 0 && hasContent(s, root+"/moved/deep/f", []byte("moved in"))
		})
		// Events from the moved directories carry their new paths.
		writeFile(t, root+"/moved/deep/h", "after rename")
		waitFor(t, "file in renamed dir", func() bool { return hasContent(s, root+"/moved/deep/h", []byte("after rename")) })
		if got := s.keysUnder(root + "/in"); len(got) != 0 {
			t.Errorf("facts under the old name: %v", keysOf(got))
		}
	})
	t.Run("move out of the tree", func(t *testing.T) {
		if err := os.Rename(root+"/moved", outside+"/back"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "moved-out subtree deleted", func() bool { return len(s.keysUnder(root+"/moved")) == 0 })
		// It is no longer watched: writes there are not reported.
		m := s.mark()
		writeFile(t, outside+"/back/deep/f", "changed outside")
		writeFile(t, root+"/sentinel", "s")
		waitFor(t, "sentinel", func() bool { _, ok := s.get(root + "/sentinel"); return ok })
		for _, c := range s.since(m) {
			if c.op == "upsert" && c.key != root+"/sentinel" && c.key != root {
				t.Errorf("reported %s after it left the tree", c.key)
			}
		}
	})
	t.Run("remove a tree", func(t *testing.T) {
		mkdirAll(t, root+"/gone/a/b")
		writeFile(t, root+"/gone/a/b/f", "x")
		waitFor(t, "tree", func() bool { _, ok := s.get(root + "/gone/a/b/f"); return ok })
		if err := os.RemoveAll(root + "/gone"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "tree deleted", func() bool { return len(s.keysUnder(root+"/gone")) == 0 })
		if n := r.src.stats.watches.Load(); n != 1 {
			t.Errorf("%d directories watched after the tree went, want 1 (the root)", n)
		}
	})
	t.Run("file replaced by directory and back", func(t *testing.T) {
		p := root + "/flip"
		writeFile(t, p, "file")
		waitFor(t, "file", func() bool { return hasContent(s, p, []byte("file")) })
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		mkdirAll(t, p+"/child")
		writeFile(t, p+"/child/c", "c")
		waitFor(t, "directory", func() bool {
			fa, ok := s.get(p)
			return ok && fa.GetFile().GetType() == plumbv1.FileType_FILE_TYPE_DIRECTORY && hasContent(s, p+"/child/c", []byte("c"))
		})
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, "file again")
		waitFor(t, "file again, children gone", func() bool {
			return hasContent(s, p, []byte("file again")) && len(s.keysUnder(p)) == 1
		})
	})
}

// Files created right after their directory, at any depth, are all
// reported: each directory is watched before it is listed.
func TestNewDirectoriesMissNothing(t *testing.T) {
	root := t.TempDir()
	r := startSource(t, map[string]any{"paths": []string{root}}, hooks{})
	var want []string
	for i := range 100 {
		d := filepath.Join(root, "d"+strconv.Itoa(i))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(d, "f")
		writeFile(t, f, "x")
		deep := filepath.Join(d, "a", "b", "c")
		mkdirAll(t, deep)
		for j := range 3 {
			g := filepath.Join(deep, "g"+strconv.Itoa(j))
			writeFile(t, g, "y")
			want = append(want, g)
		}
		want = append(want, f, deep)
	}
	waitFor(t, "every file in new directories", func() bool {
		for _, p := range want {
			if _, ok := r.sink.get(p); !ok {
				return false
			}
		}
		return true
	})
}

func countOps(calls []call, op, key string) int {
	n := 0
	for _, c := range calls {
		if c.op == op && c.key == key {
			n++
		}
	}
	return n
}

// A directory renamed while its old name's debounce window is open: the
// new name is handled first, and must end up watched under the new name.
func TestDirectoryRenamedInsideDebounceWindow(t *testing.T) {
	root := t.TempDir()
	mkdirAll(t, root+"/a/sub")
	writeFile(t, root+"/a/sub/f", "f")
	r := startSource(t, map[string]any{"paths": []string{root}, "debounce": "300ms"}, hooks{})
	s := r.sink
	if err := unix.Chmod(root+"/a", 0o700); err != nil { // opens a's window
		t.Fatal(err)
	}
	waitFor(t, "chmod", func() bool { f, _ := s.get(root + "/a"); return f.GetFile().GetMode() == 0o700 })
	if err := os.Rename(root+"/a", root+"/b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "renamed tree", func() bool {
		return len(s.keysUnder(root+"/a")) == 0 && hasContent(s, root+"/b/sub/f", []byte("f"))
	})
	for _, p := range []string{root + "/b/new", root + "/b/sub/new"} {
		writeFile(t, p, "new")
		waitFor(t, "write under the new name "+p, func() bool { return hasContent(s, p, []byte("new")) })
	}
	if got := s.keysUnder(root + "/a"); len(got) != 0 {
		t.Errorf("facts under the old name: %v", keysOf(got))
	}
}

// A rewriter preempted between truncating and writing must not make the
// source report the empty file; a file really emptied is still reported.
func TestTruncateThenPausedWriteIsNotReportedEmpty(t *testing.T) {
	root := t.TempDir()
	r := startSource(t, map[string]any{"paths": []string{root}, "debounce": "20ms"}, hooks{})
	s := r.sink
	f := filepath.Join(root, "conf")
	writeFile(t, f, "original\n")
	waitFor(t, "first content", func() bool { return hasContent(s, f, []byte("original\n")) })

	m := s.mark()
	fh, err := os.OpenFile(f, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond) // longer than one debounce window
	if _, err := fh.WriteString("rewritten\n"); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	waitFor(t, "rewritten content", func() bool { return hasContent(s, f, []byte("rewritten\n")) })
	if hasEmptyUpsert(s.since(m), f) {
		t.Fatal("the file was reported empty between truncate and write")
	}

	m = s.mark()
	if err := os.Truncate(f, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "emptied file", func() bool { return hasContent(s, f, nil) })
	if !hasEmptyUpsert(s.since(m), f) {
		t.Fatal("a file that stays empty was not reported")
	}
}

func hasEmptyUpsert(calls []call, key string) bool {
	for _, c := range calls {
		if c.op == "upsert" && c.key == key && isRegular(c.fact) && c.fact.GetFile().GetSize() == 0 {
			return true
		}
	}
	return false
}

// fsnotify removes the watch of a directory that moved (IN_MOVE_SELF) and
// reports a rename under the watch's path. If the source had already
// watched the directory at its new path, the watch removed is that one;
// the rename event names a directory that is still there, watched as far
// as the source knows. Before, the source took it for a change of the
// directory's attributes, and what happened in it afterwards was missed.
func TestWatchRemovedByAMoveIsRestored(t *testing.T) {
	root := t.TempDir()
	d := filepath.Join(root, "d")
	mkdirAll(t, d)
	var watcher atomic.Pointer[fsnotify.Watcher]
	events := make(chan fsnotify.Event)
	h := hooks{events: events, addWatch: func(fw *fsnotify.Watcher, p string) error {
		watcher.Store(fw)
		return fw.Add(p)
	}}
	r := startSource(t, map[string]any{"paths": []string{root}}, h)
	w := watcher.Load()
	if err := w.Remove(d); err != nil { // as fsnotify does after IN_MOVE_SELF
		t.Fatal(err)
	}
	events <- fsnotify.Event{Name: d, Op: fsnotify.Rename}
	waitFor(t, "the directory watched again", func() bool {
		return slices.Contains(w.WatchList(), d)
	})
	writeFile(t, d+"/new", "seen")
	waitFor(t, "a file made in it afterwards", func() bool { return hasContent(r.sink, d+"/new", []byte("seen")) })
}
