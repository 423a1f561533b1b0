package pkgfact_test

import (
	"strings"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source/pkgfact"
	"github.com/plumb-dev/plumb/agent/source/snapshot"
	"github.com/plumb-dev/plumb/agent/source/sourcetest"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// reading is a fixed database reading that counts conffile hashing.
type reading struct {
	manager  string
	versions map[string]string // package key -> version
	confs    map[string]bool   // conffile path -> matches
	hashed   int
}

func (r *reading) PackageFacts(now int64) snapshot.Facts {
	out := snapshot.Facts{}
	for k, v := range r.versions {
		out.Add(pkgfact.Package(k, &plumbv1.PackageAttrs{Version: v, Manager: r.manager}, now))
	}
	return out
}

func (r *reading) ConffileFacts(now int64) snapshot.Facts {
	r.hashed++
	out := snapshot.Facts{}
	for p, m := range r.confs {
		out.Add(fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_CONFFILE, Key: []byte(p),
			Attrs: &plumbv1.Fact_Conffile{Conffile: &plumbv1.ConffileAttrs{Manager: r.manager, Present: true, Matches: m}}}))
	}
	return out
}

func TestReporter(t *testing.T) {
	sink := sourcetest.NewSink()
	r := pkgfact.NewReporter(sink, "dpkg", true)
	rd := &reading{manager: "dpkg", versions: map[string]string{"a:all": "1", "b:all": "1"}, confs: map[string]bool{"/etc/a": true}}
	r.Snapshot(rd, 1)
	want := "begin package/dpkg,upsert package:a:all,upsert package:b:all,end package/dpkg," +
		"begin conffile/dpkg,upsert conffile:/etc/a,end conffile/dpkg"
	if got := strings.Join(sink.LogSince(0), ","); got != want {
		t.Errorf("Snapshot log %s\nwant %s", got, want)
	}
	if p, c := r.Counts(); p != 2 || c != 1 {
		t.Errorf("Counts = %d, %d; want 2, 1", p, c)
	}

	mark := sink.LogLen()
	rd.versions = map[string]string{"a:all": "2"}
	rd.confs["/etc/a"] = false
	if n := r.Update(rd, 2); n != 3 {
		t.Errorf("Update = %d, want 3", n)
	}
	want = "upsert package:a:all,delete package:b:all,upsert conffile:/etc/a"
	if got := strings.Join(sink.LogSince(mark), ","); got != want {
		t.Errorf("Update log %s\nwant %s", got, want)
	}

	mark = sink.LogLen()
	rd.confs["/etc/a"] = true
	rd.versions["c:all"] = "1" // not looked at by Rehash
	if n := r.Rehash(rd, 3); n != 1 || strings.Join(sink.LogSince(mark), ",") != "upsert conffile:/etc/a" {
		t.Errorf("Rehash = %d, log %v; want the conffile alone", n, sink.LogSince(mark))
	}
}

func TestReporterWithoutConffiles(t *testing.T) {
	sink := sourcetest.NewSink()
	r := pkgfact.NewReporter(sink, "rpm", false)
	rd := &reading{manager: "rpm", versions: map[string]string{"a.noarch": "1"}, confs: map[string]bool{"/etc/a": true}}
	r.Snapshot(rd, 1)
	r.Update(rd, 2)
	if n := r.Rehash(rd, 3); n != 0 {
		t.Errorf("Rehash without conffiles = %d, want 0", n)
	}
	if rd.hashed != 0 {
		t.Errorf("conffiles hashed %d times; the source does not check them", rd.hashed)
	}
	if got := strings.Join(sink.LogSince(0), ","); got != "begin package/rpm,upsert package:a.noarch,end package/rpm" {
		t.Errorf("log %s; want the package snapshot alone", got)
	}
}

// fileReading is a reading that records file digests.
type fileReading struct {
	reading
	files map[string][]pkgfact.File
}

func (r *fileReading) PackageFiles(key string) ([]pkgfact.File, error) { return r.files[key], nil }

// Only a version change or a new package seen after the first snapshot
// carries a check of its files; a removal carries none.
func TestReporterChecksUpgrades(t *testing.T) {
	root := tree(t, map[string]string{"/usr/lib/a/x": "x2\n", "/usr/lib/b/y": "y\n"})
	sink := sourcetest.NewSink()
	r := pkgfact.NewReporter(sink, "dpkg", false)
	r.CheckUpgrades(sourcetest.Logger(t), root, pkgfact.DefaultLimits())
	rd := &fileReading{
		reading: reading{manager: "dpkg", versions: map[string]string{"a:all": "1", "gone:all": "1"}},
		files: map[string][]pkgfact.File{
			"a:all": {{Path: "/usr/lib/a/x", Algorithm: "md5", Digest: md5Of("x2\n")}, {Path: "/usr/lib/a/z", Algorithm: "md5", Digest: md5Of("z")}},
			"b:all": {{Path: "/usr/lib/b/y", Algorithm: "md5", Digest: md5Of("y (as packaged)\n")}},
		},
	}
	r.Snapshot(rd, 1)
	if c := sink.Changes(); len(c) != 0 {
		t.Fatalf("first snapshot sent changes %v", c)
	}
	rd.versions = map[string]string{"a:all": "2", "b:all": "1"}
	r.Update(rd, 2)
	got := sink.Changes()
	if len(got) != 2 {
		t.Fatalf("changes %v, want a's upgrade and b's install", got)
	}
	a, b := got[0], got[1]
	if a.GetPackage() != "a:all" || a.GetOldVersion() != "1" || a.GetNewVersion() != "2" || a.GetManager() != "dpkg" || a.GetFiles() != 2 ||
		strings.Join(paths(a.GetMatched()), ",") != "/usr/lib/a/x" || strings.Join(paths(a.GetMissing()), ",") != "/usr/lib/a/z" {
		t.Errorf("a's change %v", a)
	}
	if b.GetPackage() != "b:all" || b.GetOldVersion() != "" || b.GetNewVersion() != "1" ||
		strings.Join(paths(b.GetMismatched()), ",") != "/usr/lib/b/y" {
		t.Errorf("b's change %v", b)
	}
	// No version change, no check.
	r.Update(rd, 3)
	if n := len(sink.Changes()); n != 2 {
		t.Errorf("an unchanged reading sent %d more changes", n-2)
	}
}
