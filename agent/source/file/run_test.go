package file

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Run leaves nothing behind when its context ends: no goroutines, no
// inotify instance.
func TestRunLeavesNoGoroutines(t *testing.T) {
	root := t.TempDir()
	mkdirAll(t, root+"/a/b")
	writeFile(t, root+"/a/b/f", "f")
	before := runtime.NumGoroutine()
	fdsBefore := countFDs(t)
	for range 3 {
		r := startSource(t, map[string]any{"paths": []string{root, filepath.Join(root, "..", "missing-root-x")}}, hooks{})
		writeFile(t, root+"/a/b/g", "g")
		waitFor(t, "event", func() bool { _, ok := r.sink.get(root + "/a/b/g"); return ok })
		if err := os.Remove(root + "/a/b/g"); err != nil {
			t.Fatal(err)
		}
		r.stop()
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	waitFor(t, "descriptors to close", func() bool { return countFDs(t) <= fdsBefore })
}

func countFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}
