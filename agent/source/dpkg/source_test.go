package dpkg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/source/sourcetest"
	"github.com/plumb-dev/plumb/pkg/fact"
)

const (
	pkgKind  = plumbv1.FactKind_FACT_KIND_PACKAGE
	confKind = plumbv1.FactKind_FACT_KIND_CONFFILE
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceFile writes content beside path and renames it over path, as
// dpkg does.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	writeFile(t, path+"-new", content)
	if err := os.Rename(path+"-new", path); err != nil {
		t.Fatal(err)
	}
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fixtureRoot builds a host root with the fixture status file and some of
// its conffiles on disk.
func fixtureRoot(t *testing.T) string {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "var/lib/dpkg/status"), readTestdata(t, "status"))
	writeFile(t, filepath.Join(root, "etc/alpha/alpha.conf"), "alpha=1\n")
	writeFile(t, filepath.Join(root, "etc/alpha/with space.conf"), "edited by hand\n")
	// An absolute symlink: resolved inside the root, as the host sees it.
	writeFile(t, filepath.Join(root, "usr/share/libshared/shared.conf"), "shared=1\n")
	if err := os.Symlink("/usr/share/libshared/shared.conf", filepath.Join(root, "etc/shared.conf")); err != nil {
		t.Fatal(err)
	}
	return root
}

// start runs a dpkg source on root until the test ends, and waits for its
// initial snapshot.
func start(t *testing.T, root string, raw map[string]any, tune func(*Source), sink *sourcetest.Sink) *sourcetest.Sink {
	t.Helper()
	src, err := New(sourcetest.Logger(t), source.Options{HostRoot: root, Raw: raw})
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(src.(*Source))
	}
	return sourcetest.Run(t, src, sink)
}

func version(f *plumbv1.Fact) string { return f.GetPackage().GetVersion() }

func TestSnapshot(t *testing.T) {
	root := fixtureRoot(t)
	sink := sourcetest.NewSink()
	// Facts left from an earlier run: a dpkg package that is gone now must
	// be deleted by the snapshot, an rpm one must be left alone.
	stale := fact.Seal(&plumbv1.Fact{Kind: pkgKind, Key: []byte("stale:amd64"),
		Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: "1", Manager: "dpkg"}}})
	other := fact.Seal(&plumbv1.Fact{Kind: pkgKind, Key: []byte("bash.x86_64"),
		Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: "5", Manager: "rpm"}}})
	sink.Seed(stale, other)
	start(t, root, nil, nil, sink)

	pkgs := sink.ByKind(pkgKind)
	wantPkgs := map[string]string{
		"alpha:amd64":     "1.0-1",
		"beta:all":        "2:2.5~rc1-3",
		"libshared:amd64": "3.1",
		"libshared:i386":  "3.1",
		"fresh:amd64":     "0.1",
		"bash.x86_64":     "5",
	}
	if len(pkgs) != len(wantPkgs) {
		t.Errorf("got %d package facts, want %d: %v", len(pkgs), len(wantPkgs), keys(pkgs))
	}
	for k, v := range wantPkgs {
		if got := version(pkgs[k]); got != v {
			t.Errorf("package %s version = %q, want %q", k, got, v)
		}
	}
	if a := pkgs["alpha:amd64"].GetPackage(); a.GetArch() != "amd64" || a.GetManager() != "dpkg" {
		t.Errorf("alpha attrs = %v, want arch amd64, manager dpkg", a)
	}

	type conf struct {
		pkg              string
		present, matches bool
	}
	wantConf := map[string]conf{
		"/etc/alpha/alpha.conf":      {"alpha:amd64", true, true},
		"/etc/alpha/with space.conf": {"alpha:amd64", true, false},
		"/etc/alpha/missing.conf":    {"alpha:amd64", false, false},
		"/etc/shared.conf":           {"libshared:amd64", true, true},
	}
	confs := sink.ByKind(confKind)
	if len(confs) != len(wantConf) {
		t.Errorf("got conffiles %v, want %d", keys(confs), len(wantConf))
	}
	for path, w := range wantConf {
		c := confs[path].GetConffile()
		got := conf{c.GetPackage(), c.GetPresent(), c.GetMatches()}
		if got != w {
			t.Errorf("conffile %s = %+v, want %+v", path, got, w)
		}
		if c.GetAlgorithm() != "md5" || len(c.GetDigest()) != 16 || c.GetManager() != "dpkg" {
			t.Errorf("conffile %s: algorithm %q, digest %x, manager %q", path, c.GetAlgorithm(), c.GetDigest(), c.GetManager())
		}
	}

	log := strings.Join(sink.LogSince(0), "\n")
	for _, want := range []string{"begin package/dpkg", "end package/dpkg", "begin conffile/dpkg", "end conffile/dpkg", "ready"} {
		i := strings.Index(log, want)
		if i < 0 {
			t.Fatalf("log lacks %q:\n%s", want, log)
		}
		log = log[i:]
	}
}

func keys(m map[string]*plumbv1.Fact) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestChangesAreReported(t *testing.T) {
	root := fixtureRoot(t)
	status := filepath.Join(root, "var/lib/dpkg/status")
	sink := start(t, root, map[string]any{"conffile_interval": "150ms"}, nil, nil)

	// An upgrade, a removal and an install, written as dpkg writes.
	mark := sink.LogLen()
	s := readTestdata(t, "status")
	s = strings.Replace(s, "Version: 1.0-1", "Version: 1.1-1", 1)
	s = strings.Replace(s, "Package: libshared\nStatus: install ok installed\nArchitecture: i386", "Package: libshared\nStatus: purge ok not-installed\nArchitecture: i386", 1)
	s += "\nPackage: newpkg\nStatus: install ok installed\nArchitecture: arm64\nVersion: 7\n"
	replaceFile(t, status, s)
	took := sourcetest.WaitFor(t, 2*time.Second, "status change", func() bool {
		return version(sink.Get(pkgKind, "alpha:amd64")) == "1.1-1" &&
			sink.Get(pkgKind, "libshared:i386") == nil &&
			version(sink.Get(pkgKind, "newpkg:arm64")) == "7"
	})
	t.Logf("status rewrite reported after %v", took)
	if took > time.Second {
		t.Errorf("status change took %v, want within 1s", took)
	}
	for _, l := range sink.LogSince(mark) {
		if strings.Contains(l, "beta") || strings.Contains(l, "libshared:amd64") || strings.Contains(l, "begin") {
			t.Errorf("unchanged facts were reported again: %q", l)
		}
	}

	// A journal entry overrides the status file.
	writeFile(t, filepath.Join(root, "var/lib/dpkg/updates/tmp.i"), readTestdata(t, "status-journal-0000"))
	if err := os.Rename(filepath.Join(root, "var/lib/dpkg/updates/tmp.i"), filepath.Join(root, "var/lib/dpkg/updates/0000")); err != nil {
		t.Fatal(err)
	}
	took = sourcetest.WaitFor(t, 2*time.Second, "journal entry", func() bool {
		return version(sink.Get(pkgKind, "beta:all")) == "2:2.6-1"
	})
	t.Logf("journal entry reported after %v", took)

	// A hand edit of a conffile flips matches at the next rehash.
	writeFile(t, filepath.Join(root, "etc/alpha/alpha.conf"), "alpha=2\n")
	took = sourcetest.WaitFor(t, 3*time.Second, "conffile edit", func() bool {
		c := sink.Get(confKind, "/etc/alpha/alpha.conf").GetConffile()
		return c.GetPresent() && !c.GetMatches()
	})
	t.Logf("conffile edit reported after %v", took)
	// ... and restoring it flips matches back.
	writeFile(t, filepath.Join(root, "etc/alpha/alpha.conf"), "alpha=1\n")
	sourcetest.WaitFor(t, 3*time.Second, "conffile restore", func() bool {
		return sink.Get(confKind, "/etc/alpha/alpha.conf").GetConffile().GetMatches()
	})
	// Removing the package removes its conffile facts.
	replaceFile(t, status, strings.Replace(s, "Package: alpha\nStatus: install ok installed", "Package: alpha\nStatus: deinstall ok config-files", 1))
	sourcetest.WaitFor(t, 2*time.Second, "package removal", func() bool {
		return sink.Get(pkgKind, "alpha:amd64") == nil && sink.Get(confKind, "/etc/alpha/alpha.conf") == nil &&
			sink.Get(confKind, "/etc/shared.conf") != nil
	})
}

func TestBadDatabaseKeepsState(t *testing.T) {
	root := fixtureRoot(t)
	status := filepath.Join(root, "var/lib/dpkg/status")
	sink := start(t, root, nil, nil, nil)
	before := len(sink.ByKind(pkgKind))

	replaceFile(t, status, "Package: x\n garbage\nnot a field\n")
	sourcetest.WaitFor(t, 2*time.Second, "unreadable condition", func() bool {
		c, ok := sink.LastCondition()
		return ok && c.Reason == "unreadable" && c.State == plumbv1.CoverageState_COVERAGE_STATE_DEGRADED
	})
	if got := len(sink.ByKind(pkgKind)); got != before {
		t.Errorf("after a bad read, %d packages, want the %d from before", got, before)
	}
	replaceFile(t, status, readTestdata(t, "status"))
	sourcetest.WaitFor(t, 2*time.Second, "condition closed", func() bool {
		c, _ := sink.LastCondition()
		return c.Reason == "unreadable" && c.State == plumbv1.CoverageState_COVERAGE_STATE_OK
	})
}

func TestMissingDatabaseAppears(t *testing.T) {
	root := t.TempDir()
	sink := start(t, root, nil, func(s *Source) { s.missingPoll = 50 * time.Millisecond }, nil)
	if n := len(sink.ByKind(pkgKind)); n != 0 {
		t.Fatalf("no database: got %d packages, want 0", n)
	}
	log := strings.Join(sink.LogSince(0), ",")
	if log != "begin package/dpkg,end package/dpkg,begin conffile/dpkg,end conffile/dpkg,ready" {
		t.Errorf("no database: log = %s, want empty snapshots then ready", log)
	}
	replaceFile(t, filepath.Join(root, "var/lib/dpkg/status"), readTestdata(t, "status"))
	sourcetest.WaitFor(t, 3*time.Second, "database to appear", func() bool {
		return sink.Get(pkgKind, "alpha:amd64") != nil
	})
	// Now it is watched: a change shows without polling delay.
	replaceFile(t, filepath.Join(root, "var/lib/dpkg/status"), strings.Replace(readTestdata(t, "status"), "Version: 1.0-1", "Version: 9", 1))
	sourcetest.WaitFor(t, 2*time.Second, "change after appearing", func() bool {
		return version(sink.Get(pkgKind, "alpha:amd64")) == "9"
	})
}

func TestNoConffiles(t *testing.T) {
	sink := start(t, fixtureRoot(t), map[string]any{"check_conffiles": false}, nil, nil)
	if n := len(sink.ByKind(confKind)); n != 0 {
		t.Errorf("check_conffiles false: got %d conffile facts, want 0", n)
	}
	if strings.Contains(strings.Join(sink.LogSince(0), ","), "conffile") {
		t.Errorf("check_conffiles false: conffile scope was snapshotted: %v", sink.LogSince(0))
	}
}

func TestOptions(t *testing.T) {
	for _, tt := range []struct {
		raw     map[string]any
		wantErr string
	}{
		{raw: nil},
		{raw: map[string]any{"status_file": "/srv/dpkg/status", "conffile_interval": "1m", "check_conffiles": "false"}},
		{raw: map[string]any{"status_fiel": "/x"}, wantErr: "status_fiel"},
		{raw: map[string]any{"status_file": "var/lib/dpkg/status"}, wantErr: "absolute"},
		{raw: map[string]any{"conffile_interval": "0s"}, wantErr: "positive"},
	} {
		_, err := New(sourcetest.Logger(t), source.Options{Raw: tt.raw})
		if tt.wantErr == "" && err != nil {
			t.Errorf("New(%v) = %v, want no error", tt.raw, err)
		}
		if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("New(%v) = %v, want error containing %q", tt.raw, err, tt.wantErr)
		}
	}
}
