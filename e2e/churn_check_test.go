package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The workload must know the tree it made, and its journal must tell a
// path's story across renames: these check both without the binaries.

func TestChurnModelMatchesDisk(t *testing.T) {
	tr := newTree(t, treeDir(t, t.TempDir()), 8, 8)
	w, err := newChurn(tr.root, 1)
	if err != nil {
		t.Fatal(err)
	}
	for range 5000 {
		if err := w.next(); err != nil {
			t.Fatal(err)
		}
	}
	disk := readDisk(t, tr.root)
	for p, k := range w.kinds {
		d, ok := disk.facts[w.key(p)]
		want := map[byte]string{kindFile: "regular", kindDir: "directory", kindLink: "symlink"}[k]
		if !ok || d.Type != want {
			t.Errorf("model has %s as a %s; disk: %+v (present %v)", w.key(p), want, d, ok)
		}
	}
	if len(disk.facts) != len(w.kinds)+1 { // the root
		t.Errorf("disk has %d paths, the model %d", len(disk.facts), len(w.kinds)+1)
	}
	for _, o := range churnOps {
		if w.ran[o.name] == 0 {
			t.Errorf("op %s never ran in 5,000", o.name)
		}
	}
}

func TestChurnHistoryFollowsRenames(t *testing.T) {
	tr := newTree(t, treeDir(t, t.TempDir()), 2, 2)
	w, err := newChurn(tr.root, 1)
	if err != nil {
		t.Fatal(err)
	}
	d0, d1 := filepath.Join(tr.root, "d00"), filepath.Join(tr.root, "d01")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	w.op = 1
	must(w.write(filepath.Join(d0, "a.dpkg-new"), []byte("new"), "dpkg: unpack"))
	must(w.rename(filepath.Join(d0, "a.dpkg-new"), filepath.Join(d0, "a")))
	w.op = 2
	must(w.chmod(d0, 0o700))
	must(w.rename(d0, filepath.Join(d1, "moved")))
	w.mark("agent SIGKILLed")
	w.op = 3
	must(w.link(filepath.Join(d1, "moved", "a"), filepath.Join(tr.root, "hard")))
	must(w.write(filepath.Join(tr.root, "hard"), []byte("x"), "rewrite"))

	var got []string
	for _, e := range w.history(w.key(filepath.Join(d1, "moved", "a"))) {
		got = append(got, e.what)
	}
	want := []string{
		"d00/a.dpkg-new: dpkg: unpack: 3 bytes",
		"d00/a.dpkg-new: renamed to d00/a",
		"d00/a: renamed from d00/a.dpkg-new",
		"d00: chmod 0700",
		"d00: renamed to d01/moved",
		"d01/moved: renamed from d00",
		"hard link hard made to it",
		"rewrite: 1 bytes sha256 2d711642b726 (made through hard link hard)",
	}
	if len(got) != len(want) {
		t.Fatalf("history:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("history[%d] = %q, want it to start %q", i, got[i], want[i])
		}
	}
	out := w.explain(map[string][]string{w.key(filepath.Join(d1, "moved", "a")): {"collector says so"}})
	for _, s := range []string{"first divergent path", "collector says so", "*** agent SIGKILLed", "d00: renamed to d01/moved"} {
		if !strings.Contains(out, s) {
			t.Errorf("explain lacks %q:\n%s", s, out)
		}
	}
	if slices.Contains(got, "") {
		t.Error("an empty journal entry")
	}
}
