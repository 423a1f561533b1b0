package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// upgradeDeb is a 50-file package installed under a directory the agent
// watches, then upgraded: dpkg writes each new file as <path>.dpkg-new,
// then renames it over <path>, as on every Debian host.
const (
	upgradeDebName = "plumb-e2e-upgrade"
	upgradeDebDir  = "/opt/plumb-e2e-upgrade"
	upgradeFiles   = 50
)

// buildUpgradeDeb builds version v of the upgrade package.
func buildUpgradeDeb(t *testing.T, v int) string {
	t.Helper()
	tree := filepath.Join(t.TempDir(), "tree")
	put := func(rel string, content []byte, mode os.FileMode) {
		p := filepath.Join(tree, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, mode); err != nil {
			t.Fatal(err)
		}
	}
	put("DEBIAN/control", []byte(strings.Join([]string{
		"Package: " + upgradeDebName,
		fmt.Sprintf("Version: %d.0-1", v),
		"Architecture: all",
		"Maintainer: Plumb e2e tests <e2e@plumb.invalid>",
		"Section: misc",
		"Priority: optional",
		"Description: Plumb end-to-end upgrade test package",
		" Installed, upgraded and purged by Plumb's e2e tests; safe to purge.",
		"",
	}, "\n")), 0o644)
	for i := range upgradeFiles {
		// Half the files change in the upgrade, half do not.
		version := v
		if i%2 == 0 {
			version = 1
		}
		put(fmt.Sprintf("%s/sub%d/file%02d", upgradeDebDir[1:], i%5, i),
			fmt.Appendf(nil, "file %d of version %d\n", i, version), 0o644)
	}
	deb := filepath.Join(filepath.Dir(tree), fmt.Sprintf("%s_%d.deb", upgradeDebName, v))
	dpkgDebBuild(t, tree, deb)
	return deb
}

// A real dpkg upgrade under a watched directory: once it is done, the
// collector's facts equal the disk (none of the .dpkg-new files dpkg
// renamed into place is left listed), drift is exactly the disk against
// the baseline, and on-call heard of every transition.
func TestDpkgUpgradeLeavesNoPhantoms(t *testing.T) {
	needDpkg(t)
	t.Parallel()
	v1, v2 := buildUpgradeDeb(t, 1), buildUpgradeDeb(t, 2)
	purge := func() error { return dpkgResult("--purge", upgradeDebName) }
	if err := purge(); err != nil {
		t.Fatalf("purge a leftover %s: %v", upgradeDebName, err)
	}
	t.Cleanup(func() {
		if err := purge(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		_ = os.RemoveAll(upgradeDebDir)
	})
	runDpkg(t, "-i", v1)

	dir := t.TempDir()
	const host = "dpkg-upgrade"
	h := newHook(t)
	col := startCollector(t, filepath.Join(dir, "collector"), h.srv.URL)
	agent := startAgent(t, col.addr, filepath.Join(dir, "agent"), host, upgradeDebDir)
	waitBaseline(t, col.addr, host)
	baseline := readDisk(t, upgradeDebDir)

	runDpkg(t, "-i", v2)
	assertConsistent(t, want{
		col: col.addr, host: host, root: upgradeDebDir, baseline: baseline, hook: h,
		procs: []*proc{agent, col.proc}, agent: agent, agentState: filepath.Join(dir, "agent"),
	})
}
