package e2e

import (
	"crypto/md5"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/agent/source/dpkg/dpkgtest"
)

// testDeb is the tiny package the dpkg tests install on this machine for
// real: one conffile and one data file, architecture all.
const (
	debName     = "plumb-e2e-test"
	debVersion  = "1.0-1"
	debKey      = debName + ":all"
	debConffile = "/etc/plumb-e2e-test/plumb-e2e-test.conf"
	debConfText = "# installed by Plumb's e2e tests\nsetting=1\n"
	debDataFile = "/usr/share/plumb-e2e-test/README"
)

// needDpkg skips the test unless it may install packages on this machine.
func needDpkg(t *testing.T) {
	t.Helper()
	dpkgtest.Need(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to install a package with dpkg -i")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: not a Debian-based host", tool)
		}
	}
}

// buildDeb builds the test package with dpkg-deb in a temporary directory
// and returns the .deb's path.
func buildDeb(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	put := func(rel, content string) {
		p := filepath.Join(tree, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put("DEBIAN/control", strings.Join([]string{
		"Package: " + debName,
		"Version: " + debVersion,
		"Architecture: all",
		"Maintainer: Plumb e2e tests <e2e@plumb.invalid>",
		"Section: misc",
		"Priority: optional",
		"Description: Plumb end-to-end test package",
		" Installed and removed by Plumb's e2e tests; safe to purge.",
		"",
	}, "\n"))
	put("DEBIAN/conffiles", debConffile+"\n")
	put(debConffile, debConfText)
	put(debDataFile, "Plumb e2e test data.\n")
	deb := filepath.Join(dir, debName+".deb")
	dpkgDebBuild(t, tree, deb)
	return deb
}

// dpkgDebBuild builds the package tree (with its DEBIAN/) into deb.
func dpkgDebBuild(t *testing.T, tree, deb string) {
	t.Helper()
	// dpkg-deb wants the control directory 0755, and the tree's root
	// becomes "./" in the archive: keep it from being 0700 like TempDir.
	for _, d := range []string{tree, filepath.Join(tree, "DEBIAN")} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", tree, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, out)
	}
}

// runDpkg runs dpkg with args, waiting out another dpkg run that holds the
// database lock.
func runDpkg(t *testing.T, args ...string) {
	t.Helper()
	if err := dpkgResult(args...); err != nil {
		t.Fatal(err)
	}
}

func dpkgResult(args ...string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command("dpkg", args...).CombinedOutput()
		if err == nil {
			return nil
		}
		if !strings.Contains(string(out), "lock") || time.Now().After(deadline) {
			return &dpkgError{args: args, err: err, out: string(out)}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type dpkgError struct {
	args []string
	err  error
	out  string
}

func (e *dpkgError) Error() string {
	return "dpkg " + strings.Join(e.args, " ") + ": " + e.err.Error() + "\n" + e.out
}

// purgeDebAtCleanup removes the test package now, if an earlier run left
// it, and again when the test ends, whatever happens.
func purgeDebAtCleanup(t *testing.T) {
	t.Helper()
	purge := func() error { return dpkgResult("--purge", debName) }
	if err := purge(); err != nil {
		t.Fatalf("purge a leftover %s: %v", debName, err)
	}
	t.Cleanup(func() {
		if err := purge(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// buildDebFiles builds version version of package name from files (paths
// relative to /, with their content), conffiles among them, and returns the
// .deb's path. Like a package built by debhelper, it records md5sums of
// its files, conffiles excepted.
func buildDebFiles(t *testing.T, name, version string, files map[string][]byte, conffiles ...string) string {
	t.Helper()
	tree := filepath.Join(t.TempDir(), "tree")
	put := func(rel string, content []byte) {
		p := filepath.Join(tree, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rels := slices.Sorted(maps.Keys(files))
	var sums strings.Builder
	for _, rel := range rels {
		put(rel, files[rel])
		if !slices.Contains(conffiles, "/"+rel) {
			fmt.Fprintf(&sums, "%x  %s\n", md5.Sum(files[rel]), rel)
		}
	}
	put("DEBIAN/control", []byte(strings.Join([]string{
		"Package: " + name,
		"Version: " + version,
		"Architecture: all",
		"Maintainer: Plumb e2e tests <e2e@plumb.invalid>",
		"Section: misc",
		"Priority: optional",
		"Description: Plumb end-to-end test package",
		" Installed, upgraded and purged by Plumb's e2e tests; safe to purge.",
		"",
	}, "\n")))
	if len(conffiles) > 0 {
		put("DEBIAN/conffiles", []byte(strings.Join(conffiles, "\n")+"\n"))
	}
	put("DEBIAN/md5sums", []byte(sums.String()))
	deb := filepath.Join(filepath.Dir(tree), fmt.Sprintf("%s_%s.deb", name, version))
	dpkgDebBuild(t, tree, deb)
	return deb
}
