package rpm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source/rpm/rpmtest"
	"github.com/plumb-dev/plumb/agent/source/sourcetest"
)

var (
	buildOnce sync.Once
	built     map[string]string // name-version -> .rpm file
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// testRPMs builds the test packages once per test binary.
func testRPMs(t *testing.T) map[string]string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "plumb-rpmbuild-")
		if buildErr != nil {
			return
		}
		for _, s := range []struct{ spec, ver string }{
			{"plumbtest-conf.spec", ""},
			{"plumbtest-multi.spec", "1"},
			{"plumbtest-multi.spec", "2"},
		} {
			spec, err := filepath.Abs(filepath.Join("testdata", s.spec))
			if err != nil {
				buildErr = err
				return
			}
			var defines []string
			if s.ver != "" {
				defines = append(defines, "pver "+s.ver)
			}
			if buildErr = rpmtest.Build(buildDir, spec, defines...); buildErr != nil {
				return
			}
		}
		built = rpmtest.Built(buildDir)
	})
	if buildErr != nil {
		t.Fatalf("build test rpms: %v", buildErr)
	}
	for _, want := range []string{"plumbtest-conf-1.2", "plumbtest-multi-1", "plumbtest-multi-2"} {
		if built[want] == "" {
			t.Fatalf("test rpm %s not built; have %v", want, built)
		}
	}
	return built
}

func comparePackages(t *testing.T, sink *sourcetest.Sink, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for k, f := range sink.ByKind(pkgKind) {
		if f.GetPackage().GetManager() == "rpm" {
			got[k] = f.GetPackage().GetVersion()
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("package %s: source has version %q, rpm -qa %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("source reports package %s, rpm -qa does not", k)
		}
	}
}

func TestRealRPM(t *testing.T) {
	rpmtest.Need(t)
	rpms := testRPMs(t)
	root := t.TempDir()
	rpmtest.Install(t, root, rpms["plumbtest-conf-1.2"], rpms["plumbtest-multi-1"], rpms["plumbtest-multi-2"])

	began := time.Now()
	sink := start(t, root, map[string]any{"conffile_interval": "150ms"}, nil, nil)
	t.Logf("initial snapshot took %v", sink.ReadyAt().Sub(began))

	want := rpmtest.Installed(t, root)
	t.Logf("comparing %d package facts with %d rpm -qa keys", len(sink.ByKind(pkgKind)), len(want))
	if want["plumbtest-conf.noarch"] != "2:1.2-3" || want["plumbtest-multi.x86_64"] != "1-1, 2-1" || len(want) != 2 {
		t.Fatalf("rpm -qa after install = %v; the test packages did not install as expected", want)
	}
	comparePackages(t, sink, want)

	wantConf := rpmtest.ConfigFiles(t, root)
	gotConf := sink.ByKind(confKind)
	if len(gotConf) != len(wantConf) || len(wantConf) != 2 {
		t.Errorf("conffiles: source %v, rpm %v; want the 2 non-ghost %%config files", keys(gotConf), wantConf)
	}
	for path, digest := range wantConf {
		c := gotConf[path].GetConffile()
		if hex.EncodeToString(c.GetDigest()) != digest {
			t.Errorf("%s: source digest %x, rpm %s", path, c.GetDigest(), digest)
		}
	}
	sum := sha256.Sum256([]byte("setting=1\n"))
	app := gotConf["/etc/plumbtest/app.conf"].GetConffile()
	if app.GetPackage() != "plumbtest-conf.noarch" || app.GetAlgorithm() != "sha256" ||
		!bytes.Equal(app.GetDigest(), sum[:]) || !app.GetPresent() || !app.GetMatches() {
		t.Errorf("app.conf fact = %v; want package plumbtest-conf.noarch, sha256 of its content, present and matching", app)
	}

	// A hand edit shows at the next rehash.
	if err := os.WriteFile(filepath.Join(root, "etc/plumbtest/app.conf"), []byte("setting=2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	took := sourcetest.WaitFor(t, 3*time.Second, "conffile edit", func() bool {
		c := sink.Get(confKind, "/etc/plumbtest/app.conf").GetConffile()
		return c.GetPresent() && !c.GetMatches()
	})
	t.Logf("conffile edit seen after %v", took)

	// rpm -e: the package and its conffiles go.
	mark := sink.LogLen()
	begin := time.Now()
	rpmtest.Cmd(t, root, "-e", "--nodeps", "--noscripts", "plumbtest-conf")
	took = sourcetest.WaitFor(t, 2*time.Second, "erase to be reported", func() bool {
		return sink.Get(pkgKind, "plumbtest-conf.noarch") == nil && sink.Get(confKind, "/etc/plumbtest/other.conf") == nil
	})
	t.Logf("rpm -e reported %v after rpm exited (%v after it started)", took, time.Since(begin))
	for _, l := range sink.LogSince(mark) {
		if strings.Contains(l, "plumbtest-multi") {
			t.Errorf("unchanged package reported again: %s", l)
		}
	}
	comparePackages(t, sink, rpmtest.Installed(t, root))

	// Erasing one of two installed versions changes the version list.
	rpmtest.Cmd(t, root, "-e", "--nodeps", "--noscripts", "plumbtest-multi-1-1")
	sourcetest.WaitFor(t, 2*time.Second, "one version erased", func() bool {
		return sink.Get(pkgKind, "plumbtest-multi.x86_64").GetPackage().GetVersion() == "2-1"
	})

	// And an install while running shows up, with its check of the
	// package's files, which agrees with rpm -V.
	rpmtest.Install(t, root, rpms["plumbtest-conf-1.2"])
	sourcetest.WaitFor(t, 2*time.Second, "install to be reported", func() bool {
		return sink.Get(pkgKind, "plumbtest-conf.noarch") != nil && sink.Get(confKind, "/etc/plumbtest/app.conf").GetConffile().GetMatches()
	})
	comparePackages(t, sink, rpmtest.Installed(t, root))
	var pc *plumbv1.PackageChange
	for _, c := range sink.Changes() {
		if c.GetPackage() == "plumbtest-conf.noarch" {
			pc = c
		}
	}
	verified := rpmVerify(t, root, "plumbtest-conf")
	var matched, mismatched []string
	for _, p := range []string{"/etc/plumbtest/app.conf", "/etc/plumbtest/other.conf", "/usr/share/plumbtest/data"} {
		if verified[p] {
			mismatched = append(mismatched, p)
		} else {
			matched = append(matched, p)
		}
	}
	got := func(bs [][]byte) []string {
		var out []string
		for _, b := range bs {
			out = append(out, string(b))
		}
		return out
	}
	if pc.GetOldVersion() != "" || pc.GetNewVersion() != "2:1.2-3" || pc.GetManager() != "rpm" || pc.GetFiles() != 3 || pc.GetTruncated() ||
		!slices.Equal(got(pc.GetMatched()), matched) || !slices.Equal(got(pc.GetMismatched()), mismatched) || len(pc.GetMissing()) != 0 {
		t.Errorf("install's check %v; want a first install of 2:1.2-3, 3 files (the ghost left out), matched %v and mismatched %v as rpm -V says",
			pc, matched, mismatched)
	}
}

// rpmVerify returns the paths rpm -V finds with another digest ("5").
func rpmVerify(t *testing.T, root, pkg string) map[string]bool {
	t.Helper()
	out, err := exec.Command("rpm", "--root", root, "--dbpath", rpmtest.DBPath, "-V", pkg).Output()
	if err != nil && len(out) == 0 {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("rpm -V %s: %v", pkg, err)
		}
	}
	t.Logf("rpm -V %s: %q", pkg, out)
	changed := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if i := strings.Index(line, " /"); i >= 0 && len(line) > 2 && line[2] == '5' {
			changed[line[i+1:]] = true
		}
	}
	return changed
}

func TestRealRPMDatabaseAppears(t *testing.T) {
	rpmtest.Need(t)
	rpms := testRPMs(t)
	root := t.TempDir()
	sink := start(t, root, nil, func(s *Source) { s.missingPoll = 50 * time.Millisecond }, nil)
	if n := len(sink.ByKind(pkgKind)); n != 0 {
		t.Fatalf("no database: %d packages, want 0", n)
	}
	if got := strings.Join(sink.LogSince(0), ","); got != "begin package/rpm,end package/rpm,begin conffile/rpm,end conffile/rpm,ready" {
		t.Errorf("no database: log %s, want empty snapshots then ready", got)
	}
	rpmtest.Install(t, root, rpms["plumbtest-multi-1"])
	sourcetest.WaitFor(t, 3*time.Second, "database to appear", func() bool {
		return sink.Get(pkgKind, "plumbtest-multi.x86_64") != nil
	})
	// Now watched: the next change needs no poll.
	rpmtest.Install(t, root, rpms["plumbtest-conf-1.2"])
	sourcetest.WaitFor(t, 2*time.Second, "second install", func() bool {
		return sink.Get(pkgKind, "plumbtest-conf.noarch") != nil
	})
}

// TestRealHost runs the source on this machine's root: with no rpm
// database (a Debian host) it reports nothing and gets ready.
func TestRealHost(t *testing.T) {
	sink := start(t, "/", nil, nil, nil)
	n := len(sink.ByKind(pkgKind))
	if _, err := findDatabase(rpmtest.DBPath); err == errNoDatabase {
		if n != 0 {
			t.Errorf("no rpm database on this host, but %d package facts", n)
		}
		t.Logf("no rpm database under /: empty snapshot, ready")
		return
	}
	if _, err := exec.LookPath("rpm"); err == nil {
		comparePackages(t, sink, rpmtest.Installed(t, "/"))
	}
	t.Logf("rpm database on this host: %d packages", n)
}

// TestDatabaseFormats reads the sample databases shipped with go-rpmdb
// (sqlite, Berkeley DB, ndb) through the source and, where Debian's rpm
// can read the format, compares with rpm -qa one for one.
func TestDatabaseFormats(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/knqyf263/go-rpmdb").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("go-rpmdb module source not found: %v", err)
	}
	for _, tt := range []struct {
		file, backend string
	}{
		{"fedora35/rpmdb.sqlite", "sqlite"},
		{"centos7-plain/Packages", "bdb_ro"},
		{"sle15-bci/Packages.db", ""}, // Debian's rpm has no ndb backend
	} {
		t.Run(tt.backend+"/"+tt.file, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(dir, "pkg", "testdata", tt.file))
			if err != nil {
				t.Skipf("sample database missing: %v", err)
			}
			root := t.TempDir()
			db := filepath.Join(root, rpmtest.DBPath)
			if err := os.MkdirAll(db, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(db, filepath.Base(tt.file)), src, 0o644); err != nil {
				t.Fatal(err)
			}
			sink := start(t, root, nil, nil, nil)
			pkgs := sink.ByKind(pkgKind)
			if len(pkgs) == 0 {
				t.Fatal("no packages read")
			}
			confs := sink.ByKind(confKind)
			t.Logf("%d packages, %d conffiles", len(pkgs), len(confs))
			for _, f := range confs {
				if c := f.GetConffile(); c.GetPresent() || len(c.GetDigest()) == 0 {
					t.Errorf("conffile %s in an empty root: present %v, digest %x", f.GetKey(), c.GetPresent(), c.GetDigest())
				}
			}
			if tt.backend == "" {
				return
			}
			if _, err := exec.LookPath("rpm"); err != nil {
				t.Skip("rpm not installed: cannot compare")
			}
			want := rpmtest.Installed(t, root, "--define", "_db_backend "+tt.backend)
			comparePackages(t, sink, want)
			wantConf := rpmtest.ConfigFiles(t, root, "--define", "_db_backend "+tt.backend)
			if len(wantConf) != len(confs) {
				t.Errorf("%d conffiles, rpm lists %d", len(confs), len(wantConf))
			}
			for p, d := range wantConf {
				if got := hex.EncodeToString(confs[p].GetConffile().GetDigest()); got != d {
					t.Errorf("conffile %s: digest %s, rpm %s", p, got, d)
				}
			}
		})
	}
}

var (
	pkgKind  = plumbv1.FactKind_FACT_KIND_PACKAGE
	confKind = plumbv1.FactKind_FACT_KIND_CONFFILE
)

func keys(m map[string]*plumbv1.Fact) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
