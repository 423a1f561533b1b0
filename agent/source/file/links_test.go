package file

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A change made through one hard link is a change of every name of the
// file: inotify reports it only under the name used. Before, the other
// names kept their old content and mode for good.
func TestChangeThroughAHardLinkReachesEveryName(t *testing.T) {
	root := t.TempDir()
	mkdirAll(t, root+"/a")
	mkdirAll(t, root+"/b")
	orig := filepath.Join(root, "a", "conf")
	writeFile(t, orig, "one\n")
	early := filepath.Join(root, "b", "early")
	if err := os.Link(orig, early); err != nil {
		t.Fatal(err)
	}
	r := startSource(t, map[string]any{"paths": []string{root}, "debounce": "5ms"}, hooks{})
	s := r.sink

	// A link made while the source runs is learnt from its event.
	late := filepath.Join(root, "late")
	if err := os.Link(orig, late); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new link", func() bool { return hasContent(s, late, []byte("one\n")) })

	writeFile(t, early, "two\n") // O_TRUNC through one name
	waitFor(t, "every name to hold the new content", func() bool {
		return hasContent(s, orig, []byte("two\n")) && hasContent(s, early, []byte("two\n")) &&
			hasContent(s, late, []byte("two\n"))
	})
	if err := unix.Chmod(late, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every name to hold the new mode", func() bool {
		for _, p := range []string{orig, early, late} {
			if f, ok := s.get(p); !ok || f.GetFile().GetMode() != 0o600 {
				return false
			}
		}
		return true
	})

	// A file with one link when last seen gets another name; a change
	// through the new name reaches the old one, which inotify never
	// mentions.
	solo := filepath.Join(root, "a", "solo")
	writeFile(t, solo, "alone\n")
	waitFor(t, "the single file", func() bool { return hasContent(s, solo, []byte("alone\n")) })
	second := filepath.Join(root, "b", "second")
	if err := os.Link(solo, second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "its second name", func() bool { return hasContent(s, second, []byte("alone\n")) })
	writeFile(t, second, "together\n")
	waitFor(t, "the first name to follow", func() bool {
		return hasContent(s, solo, []byte("together\n")) && hasContent(s, second, []byte("together\n"))
	})

	// One name gone: the rest still follow each other.
	if err := os.Remove(late); err != nil {
		t.Fatal(err)
	}
	writeFile(t, orig, "three\n")
	waitFor(t, "the remaining names", func() bool {
		_, stale := s.get(late)
		return !stale && hasContent(s, early, []byte("three\n"))
	})
}

// A hard link made, used and removed before the source looks at it leaves
// the change under a name that is gone: the file's own name has no event.
// Its ctime moved, and the sweep that a vanished, never-recorded name
// calls for finds it. Before, the change went unseen until the file's
// next event: a way to change /etc/shadow past the agent.
func TestChangeThroughAVanishedLinkIsSeen(t *testing.T) {
	root := t.TempDir()
	mkdirAll(t, root+"/a")
	mkdirAll(t, root+"/b")
	secret := filepath.Join(root, "a", "secret")
	writeFile(t, secret, "old\n")
	if err := unix.Chmod(secret, 0o644); err != nil {
		t.Fatal(err)
	}
	r := startSource(t, map[string]any{"paths": []string{root}, "debounce": "5ms"}, hooks{})
	s := r.sink
	waitFor(t, "the file", func() bool { return hasContent(s, secret, []byte("old\n")) })

	tmp := filepath.Join(root, "b", "tmp")
	through := func(fn func()) {
		t.Helper()
		if err := os.Link(secret, tmp); err != nil {
			t.Fatal(err)
		}
		fn()
		if err := os.Remove(tmp); err != nil {
			t.Fatal(err)
		}
	}
	through(func() {
		if err := unix.Chmod(tmp, 0o600); err != nil {
			t.Fatal(err)
		}
	})
	waitFor(t, "the mode changed through a vanished link", func() bool {
		f, ok := s.get(secret)
		return ok && f.GetFile().GetMode() == 0o600
	})
	through(func() {
		if err := os.WriteFile(tmp, []byte("new\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	waitFor(t, "the content changed through a vanished link", func() bool { return hasContent(s, secret, []byte("new\n")) })
	if _, ok := s.get(tmp); ok {
		t.Error("the vanished link is recorded")
	}
}
