package rpm

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source/sourcetest"
)

// rpmDBPath is where the tests' rpm commands keep the database, under
// their --root. Debian's rpm defaults to ~/.rpmdb, so it is always given.
const rpmDBPath = "/var/lib/rpm"

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

// needRPM skips the test when the rpm tools are missing.
func needRPM(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"rpm", "rpmbuild"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (scripts/ci-deps.sh installs Debian's rpm): %v", tool, err)
		}
	}
}

// testRPMs builds the test packages once per test binary.
func testRPMs(t *testing.T) map[string]string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "plumb-rpmbuild-")
		if buildErr != nil {
			return
		}
		built = map[string]string{}
		specs := []struct{ spec, ver string }{
			{"plumbtest-conf.spec", ""},
			{"plumbtest-multi.spec", "1"},
			{"plumbtest-multi.spec", "2"},
		}
		for _, s := range specs {
			spec, err := filepath.Abs(filepath.Join("testdata", s.spec))
			if err != nil {
				buildErr = err
				return
			}
			args := []string{"-bb", "--quiet",
				"--define", "_topdir " + buildDir,
				"--define", "_build_id_links none",
				"--define", "_binary_payload w.ufdio"}
			if s.ver != "" {
				args = append(args, "--define", "pver "+s.ver)
			}
			args = append(args, spec)
			if out, err := exec.Command("rpmbuild", args...).CombinedOutput(); err != nil {
				buildErr = err
				t.Logf("rpmbuild %s:\n%s", s.spec, out)
				return
			}
		}
		files, _ := filepath.Glob(filepath.Join(buildDir, "RPMS", "*", "*.rpm"))
		for _, f := range files {
			b := filepath.Base(f) // name-version-release.arch.rpm
			n := strings.TrimSuffix(b, ".rpm")
			n = n[:strings.LastIndex(n, "-")] // drop release.arch
			built[n] = f
		}
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

func rpmCmd(t *testing.T, root string, args ...string) []byte {
	t.Helper()
	all := append([]string{"--root", root, "--dbpath", rpmDBPath}, args...)
	cmd := exec.Command("rpm", all...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rpm %s: %v\n%s", strings.Join(all, " "), err, stderr.String())
	}
	return out
}

func rpmInstall(t *testing.T, root string, files ...string) {
	t.Helper()
	rpmCmd(t, root, append([]string{"-i", "--nodeps", "--noscripts", "--nosignature", "--ignorearch"}, files...)...)
}

// qaFormat prints what the source's keys and versions are made of.
const qaFormat = `%{NAME}\t%{ARCH}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\t%{VERSION}\t%{RELEASE}\n`

// parseQA turns rpm -qa output in qaFormat into key -> version, keyed and
// grouped as the package doc says.
func parseQA(t *testing.T, out []byte) map[string]string {
	t.Helper()
	group := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 5 {
			t.Fatalf("rpm -qa line %q: want 5 fields", sc.Text())
		}
		name, arch, evr := f[0], f[1], f[2]
		key := name + "." + arch
		switch {
		case name == "gpg-pubkey":
			key, evr = name+"-"+f[3]+"-"+f[4], f[3]+"-"+f[4]
		case arch == "(none)":
			key = name
		}
		group[key] = append(group[key], evr)
	}
	out2 := map[string]string{}
	for k, vs := range group {
		sort.Strings(vs)
		out2[k] = strings.Join(vs, ", ")
	}
	return out2
}

// configFiles lists, from rpm itself, the files the source should report
// as conffiles: %config, not %ghost, regular, with a digest.
func configFiles(t *testing.T, out []byte) map[string]string {
	t.Helper()
	files := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 4 {
			continue
		}
		flags, _ := strconv.Atoi(f[1])
		mode, _ := strconv.Atoi(f[2])
		if flags&1 == 0 || flags&64 != 0 || mode&0o170000 != 0o100000 || f[3] == "" {
			continue
		}
		files[f[0]] = f[3]
	}
	return files
}

const filesFormat = `[%{FILENAMES}\t%{FILEFLAGS}\t%{FILEMODES}\t%{FILEDIGESTS}\n]`

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
	needRPM(t)
	rpms := testRPMs(t)
	root := t.TempDir()
	rpmInstall(t, root, rpms["plumbtest-conf-1.2"], rpms["plumbtest-multi-1"], rpms["plumbtest-multi-2"])

	began := time.Now()
	sink := start(t, root, map[string]any{"conffile_interval": "150ms"}, nil, nil)
	t.Logf("initial snapshot took %v", sink.ReadyAt().Sub(began))

	want := parseQA(t, rpmCmd(t, root, "-qa", "--qf", qaFormat))
	t.Logf("comparing %d package facts with %d rpm -qa keys", len(sink.ByKind(pkgKind)), len(want))
	if want["plumbtest-conf.noarch"] != "2:1.2-3" || want["plumbtest-multi.x86_64"] != "1-1, 2-1" || len(want) != 2 {
		t.Fatalf("rpm -qa after install = %v; the test packages did not install as expected", want)
	}
	comparePackages(t, sink, want)

	wantConf := configFiles(t, rpmCmd(t, root, "-qa", "--qf", filesFormat))
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
	rpmCmd(t, root, "-e", "--nodeps", "--noscripts", "plumbtest-conf")
	took = sourcetest.WaitFor(t, 2*time.Second, "erase to be reported", func() bool {
		return sink.Get(pkgKind, "plumbtest-conf.noarch") == nil && sink.Get(confKind, "/etc/plumbtest/other.conf") == nil
	})
	t.Logf("rpm -e reported %v after rpm exited (%v after it started)", took, time.Since(begin))
	for _, l := range sink.LogSince(mark) {
		if strings.Contains(l, "plumbtest-multi") {
			t.Errorf("unchanged package reported again: %s", l)
		}
	}
	comparePackages(t, sink, parseQA(t, rpmCmd(t, root, "-qa", "--qf", qaFormat)))

	// Erasing one of two installed versions changes the version list.
	rpmCmd(t, root, "-e", "--nodeps", "--noscripts", "plumbtest-multi-1-1")
	sourcetest.WaitFor(t, 2*time.Second, "one version erased", func() bool {
		return sink.Get(pkgKind, "plumbtest-multi.x86_64").GetPackage().GetVersion() == "2-1"
	})

	// And an install while running shows up.
	rpmInstall(t, root, rpms["plumbtest-conf-1.2"])
	sourcetest.WaitFor(t, 2*time.Second, "install to be reported", func() bool {
		return sink.Get(pkgKind, "plumbtest-conf.noarch") != nil && sink.Get(confKind, "/etc/plumbtest/app.conf").GetConffile().GetMatches()
	})
	comparePackages(t, sink, parseQA(t, rpmCmd(t, root, "-qa", "--qf", qaFormat)))
}

func TestRealRPMDatabaseAppears(t *testing.T) {
	needRPM(t)
	rpms := testRPMs(t)
	root := t.TempDir()
	sink := start(t, root, nil, func(s *Source) { s.missingPoll = 50 * time.Millisecond }, nil)
	if n := len(sink.ByKind(pkgKind)); n != 0 {
		t.Fatalf("no database: %d packages, want 0", n)
	}
	if got := strings.Join(sink.LogSince(0), ","); got != "begin package/rpm,end package/rpm,begin conffile/rpm,end conffile/rpm,ready" {
		t.Errorf("no database: log %s, want empty snapshots then ready", got)
	}
	rpmInstall(t, root, rpms["plumbtest-multi-1"])
	sourcetest.WaitFor(t, 3*time.Second, "database to appear", func() bool {
		return sink.Get(pkgKind, "plumbtest-multi.x86_64") != nil
	})
	// Now watched: the next change needs no poll.
	rpmInstall(t, root, rpms["plumbtest-conf-1.2"])
	sourcetest.WaitFor(t, 2*time.Second, "second install", func() bool {
		return sink.Get(pkgKind, "plumbtest-conf.noarch") != nil
	})
}

// TestRealHost runs the source on this machine's root: with no rpm
// database (a Debian host) it reports nothing and gets ready.
func TestRealHost(t *testing.T) {
	sink := start(t, "/", nil, nil, nil)
	n := len(sink.ByKind(pkgKind))
	if _, err := findDatabase(rpmDBPath); err == errNoDatabase {
		if n != 0 {
			t.Errorf("no rpm database on this host, but %d package facts", n)
		}
		t.Logf("no rpm database under /: empty snapshot, ready")
		return
	}
	if _, err := exec.LookPath("rpm"); err == nil {
		comparePackages(t, sink, parseQA(t, rpmCmd(t, "/", "-qa", "--qf", qaFormat)))
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
			db := filepath.Join(root, rpmDBPath)
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
			want := parseQA(t, rpmCmd(t, root, "--define", "_db_backend "+tt.backend, "-qa", "--qf", qaFormat))
			comparePackages(t, sink, want)
			wantConf := configFiles(t, rpmCmd(t, root, "--define", "_db_backend "+tt.backend, "-qa", "--qf", filesFormat))
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
