package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// explainDeb is a package of explainFiles files, every one of which its
// version 2 changes; its own name, so that it runs beside the other dpkg
// tests.
const (
	explainDebName = "plumb-e2e-explain"
	explainDebKey  = explainDebName + ":all"
	explainDebDir  = "/opt/plumb-e2e-explain"
	explainFiles   = 50
)

// buildExplainDeb builds version v: every file's content names v.
func buildExplainDeb(t *testing.T, v int) string {
	t.Helper()
	files := map[string][]byte{}
	for i := range explainFiles {
		files[fmt.Sprintf("%s/sub%d/file%02d", explainDebDir[1:], i%5, i)] = fmt.Appendf(nil, "file %d of version %d\n", i, v)
	}
	return buildDebFiles(t, explainDebName, fmt.Sprintf("%d.0-1", v), files)
}

// TestPackageUpgradeIsOneNotification: a real `dpkg -i` upgrade of a
// 50-file package, with one unrelated change made during it, reaches
// on-call as exactly one notification: the package, both versions, 50
// files that all match the package (as `dpkg --verify` agrees), and the
// other change called out as unexplained.
func TestPackageUpgradeIsOneNotification(t *testing.T) {
	needDpkg(t)
	t.Parallel()
	v1, v2 := buildExplainDeb(t, 1), buildExplainDeb(t, 2)
	purge := func() error { return dpkgResult("--purge", explainDebName) }
	if err := purge(); err != nil {
		t.Fatalf("purge a leftover %s: %v", explainDebName, err)
	}
	t.Cleanup(func() {
		if err := purge(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		_ = os.RemoveAll(explainDebDir)
	})
	runDpkg(t, "-i", v1)

	dir := t.TempDir()
	const host = "dpkg-explain"
	h := newHook(t)
	const groupWait = 10 * time.Second
	col := startCollector(t, filepath.Join(dir, "collector"), h.srv.URL,
		"--webhook-group", "group_wait="+groupWait.String(), "--webhook-group", "group_interval="+groupWait.String())
	startSourcesAgent(t, col.addr, filepath.Join(dir, "agent"), host, "file,dpkg", "--watch", explainDebDir)
	waitBaseline(t, col.addr, host)

	related := func(n notification) bool {
		for _, ev := range n.Events {
			if ev.Host == host && (ev.Key == explainDebKey || strings.HasPrefix(ev.Key, explainDebDir+"/")) {
				return true
			}
		}
		return false
	}
	runDpkg(t, "-i", v2)
	extra := filepath.Join(explainDebDir, "extra.conf")
	writeFile(t, extra, "not from any package\n")

	waitFor(t, 3*groupWait, "a notification of the upgrade", func() bool {
		for _, n := range h.notifications() {
			if related(n) {
				return true
			}
		}
		return false
	})
	// Anything further about it would come within a group_interval.
	time.Sleep(groupWait + 2*time.Second)
	var ns []notification
	for _, n := range h.notifications() {
		if related(n) {
			ns = append(ns, n)
		}
	}
	if len(ns) != 1 {
		for _, n := range ns {
			t.Logf("notification %s: %s (%d events)", n.ID, n.Title, len(n.Events))
		}
		t.Fatalf("%d notifications of one package upgrade, want exactly 1", len(ns))
	}
	n := ns[0]
	t.Logf("notification %s (%d events): %s", n.ID, len(n.Events), n.Title)

	files, changed, missing := dpkgVerify(t, explainDebName)
	if len(files) != explainFiles || len(changed) != 0 || len(missing) != 0 {
		t.Fatalf("dpkg says: %d files, changed %v, missing %v", len(files), changed, missing)
	}
	var pc *packageChange
	for i := range n.Packages {
		if n.Packages[i].Host == host && n.Packages[i].Package == explainDebKey {
			pc = &n.Packages[i]
		}
	}
	if pc == nil {
		t.Fatalf("notification names packages %+v, not %s", n.Packages, explainDebKey)
	}
	if pc.OldVersion != "1.0-1" || pc.NewVersion != "2.0-1" || !pc.Checked || pc.Files != len(files) || !pc.AllMatch {
		t.Errorf("package change %+v; want 1.0-1 → 2.0-1, checked, %d files, all match", *pc, len(files))
	}
	// Every file the upgrade changed is explained by it; the only
	// unexplained item under the package's directory is the extra file.
	var unexplained []string
	for _, u := range n.Unexplained {
		if u.Host == host && strings.HasPrefix(u.Key, explainDebDir+"/") {
			unexplained = append(unexplained, u.Key)
		}
	}
	if len(unexplained) != 1 || unexplained[0] != extra {
		t.Errorf("unexplained under %s: %v, want only %s", explainDebDir, unexplained, extra)
	}
	if pc.Explained < len(files) {
		t.Errorf("%d drifted items explained by the package, want at least its %d files", pc.Explained, len(files))
	}
	want := fmt.Sprintf("%s 1.0-1 → 2.0-1: %d files, all match the package", explainDebKey, len(files))
	if !strings.Contains(n.Title, want) || !strings.Contains(n.Title, "unexplained") {
		t.Errorf("title %q, want it to say %q and name the unexplained change", n.Title, want)
	}
}
