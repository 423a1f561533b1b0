package file

import (
	"os"
	"path/filepath"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

var (
	stateOK       = plumbv1.CoverageState_COVERAGE_STATE_OK
	stateBlind    = plumbv1.CoverageState_COVERAGE_STATE_BLIND
	stateDegraded = plumbv1.CoverageState_COVERAGE_STATE_DEGRADED
)

func TestMissingRootAppears(t *testing.T) {
	base := t.TempDir()
	present := filepath.Join(base, "present")
	mkdirAll(t, present)
	writeFile(t, present+"/p", "p")
	root := filepath.Join(base, "a", "b", "root") // a/ does not exist yet
	r := startSource(t, map[string]any{"paths": []string{present, root}}, hooks{})
	s := r.sink

	if !s.hasCoverage(stateBlind, reasonMissing, root) {
		t.Fatalf("no BLIND missing coverage for %s:\n%s", root, describe(s.log()))
	}
	// Both roots were snapshotted (the missing one empty) before Ready.
	var order []string
	for _, c := range s.log() {
		if c.op == "begin" || c.op == "end" || c.op == "ready" {
			order = append(order, c.op+" "+c.key)
		}
	}
	want := []string{"begin " + present, "end " + present, "begin " + root, "end " + root, "ready "}
	if !equalStrings(order, want) {
		t.Errorf("snapshot order = %q, want %q", order, want)
	}
	if _, ok := s.get(present + "/p"); !ok {
		t.Errorf("present root not reported")
	}

	// The ancestors appear one by one, then the root with a file inside.
	mkdirAll(t, filepath.Join(base, "a"))
	mkdirAll(t, filepath.Join(base, "a", "b", "unrelated"))
	writeFile(t, filepath.Join(base, "a", "b", "sibling"), "not ours")
	mkdirAll(t, filepath.Join(root, "sub"))
	writeFile(t, filepath.Join(root, "sub", "f"), "inside")
	waitFor(t, "file in the appeared root", func() bool { return hasContent(s, root+"/sub/f", []byte("inside")) })
	waitFor(t, "OK missing coverage", func() bool { return s.hasCoverage(stateOK, reasonMissing, root) })
	for k := range s.keysUnder(base) {
		if !withinOrSame(k, root) && !withinOrSame(k, present) {
			t.Errorf("reported %s outside every root", k)
		}
	}
	// And it is watched.
	writeFile(t, filepath.Join(root, "sub", "g"), "watched")
	waitFor(t, "file after the root appeared", func() bool { return hasContent(s, root+"/sub/g", []byte("watched")) })

	// The root goes again: everything under it is deleted, BLIND again.
	m := s.mark()
	if err := os.RemoveAll(filepath.Join(base, "a")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "root gone", func() bool {
		return len(s.keysUnder(root)) == 0 && countCoverage(s.since(m), stateBlind, reasonMissing, root) == 1
	})
	// And comes back once more.
	mkdirAll(t, root)
	writeFile(t, root+"/again", "again")
	waitFor(t, "root back", func() bool {
		return hasContent(s, root+"/again", []byte("again")) && countCoverage(s.since(m), stateOK, reasonMissing, root) == 1
	})
}

func TestRootIsAFile(t *testing.T) {
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	writeFile(t, hosts, "127.0.0.1 localhost\n")
	writeFile(t, filepath.Join(dir, "other"), "not watched")
	r := startSource(t, map[string]any{"paths": []string{hosts}}, hooks{})
	s := r.sink
	if got := s.keysUnder(dir); len(got) != 1 || !hasContent(s, hosts, []byte("127.0.0.1 localhost\n")) {
		t.Fatalf("facts = %v, want only the root file", keysOf(got))
	}
	// An editor's atomic save replaces the inode; still seen.
	tmp := filepath.Join(dir, ".hosts.tmp")
	writeFile(t, tmp, "10.0.0.1 db\n")
	if err := os.Rename(tmp, hosts); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "saved root file", func() bool { return hasContent(s, hosts, []byte("10.0.0.1 db\n")) })
	// A plain write to the new inode is seen too.
	writeFile(t, hosts, "10.0.0.2 db\n")
	waitFor(t, "rewritten root file", func() bool { return hasContent(s, hosts, []byte("10.0.0.2 db\n")) })
	if got := s.keysUnder(dir); len(got) != 1 {
		t.Errorf("facts = %v, want only the root file", keysOf(got))
	}
	if err := os.Remove(hosts); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "root file deleted, BLIND", func() bool {
		_, ok := s.get(hosts)
		return !ok && s.hasCoverage(stateBlind, reasonMissing, hosts)
	})
}

func countCoverage(calls []call, state plumbv1.CoverageState, reason, detail string) int {
	n := 0
	for _, c := range calls {
		if c.op == "coverage" && c.cond.State == state && c.cond.Reason == reason && c.cond.Detail == detail {
			n++
		}
	}
	return n
}
