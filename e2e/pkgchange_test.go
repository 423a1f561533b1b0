package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
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
)

// checkDeb is a package of checkFiles files plus one conffile, upgraded
// by the test below; its own name, so that it runs beside the other dpkg
// tests.
const (
	checkDebName  = "plumb-e2e-pkgcheck"
	checkDebDir   = "/opt/plumb-e2e-pkgcheck"
	checkConffile = checkDebDir + "/etc/app.conf"
	checkFiles    = 50
)

// buildCheckDeb builds version v of the checked package. changed says
// which files v2 ships with new content; the conffile is the same in
// both versions, so dpkg keeps a hand edit of it through the upgrade.
// Like a package built by debhelper, it records its files' md5sums, the
// conffile excepted.
func buildCheckDeb(t *testing.T, v int, changed []bool) string {
	t.Helper()
	files := map[string][]byte{checkConffile[1:]: []byte("setting = packaged\n")}
	for i := range checkFiles {
		version := 1
		if changed[i] {
			version = v
		}
		files[fmt.Sprintf("%s/sub%d/file%02d", checkDebDir[1:], i%5, i)] = fmt.Appendf(nil, "file %d of version %d\n", i, version)
	}
	return buildDebFiles(t, checkDebName, fmt.Sprintf("%d.0-1", v), files, checkConffile)
}

// A real dpkg upgrade of a package with a hand-edited conffile: the
// package item's drift event carries the agent's check of the new
// version's files, and that check agrees with dpkg's own: what `dpkg
// --verify` finds changed is mismatched, every other file the package
// lists is matched, and the versions are dpkg's.
func TestDpkgUpgradeCarriesThePackageCheck(t *testing.T) {
	needDpkg(t)
	t.Parallel()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	changed := make([]bool, checkFiles)
	for i := range changed {
		changed[i] = rng.IntN(2) == 0
	}
	v1, v2 := buildCheckDeb(t, 1, changed), buildCheckDeb(t, 2, changed)
	purge := func() error { return dpkgResult("--purge", checkDebName) }
	if err := purge(); err != nil {
		t.Fatalf("purge a leftover %s: %v", checkDebName, err)
	}
	t.Cleanup(func() {
		if err := purge(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		_ = os.RemoveAll(checkDebDir)
	})
	runDpkg(t, "-i", v1)

	dir := t.TempDir()
	const host = "dpkg-pkgcheck"
	col := startCollector(t, filepath.Join(dir, "collector"), "")
	startSourcesAgent(t, col.addr, filepath.Join(dir, "agent"), host, "file,dpkg", "--watch", checkDebDir)
	waitBaseline(t, col.addr, host)

	// Every drift event of the host, from now on, as the API streams them.
	ctx, cancel := context.WithCancel(withToken(context.Background(), adminToken(t, col)))
	defer cancel()
	watch, err := plumbv1.NewQueryServiceClient(dialTLS(t, col, nil)).WatchDrift(ctx, &plumbv1.WatchDriftRequest{HostId: host})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []*plumbv1.DriftEvent
	go func() {
		for {
			resp, err := watch.Recv()
			if err != nil {
				return
			}
			mu.Lock()
			events = append(events, resp.GetEvent())
			mu.Unlock()
		}
	}()
	awaitEvent := func(what string, pred func(*plumbv1.DriftEvent) bool) *plumbv1.DriftEvent {
		t.Helper()
		var got *plumbv1.DriftEvent
		waitFor(t, 30*time.Second, what, func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, ev := range events {
				if pred(ev) {
					got = ev
					return true
				}
			}
			return false
		})
		return got
	}

	// The hand edit drifts at once, and shows the watch is live.
	writeFile(t, checkConffile, fmt.Sprintf("setting = edited %d\n", rng.Int64()))
	awaitEvent("the conffile edit's file drift", func(ev *plumbv1.DriftEvent) bool {
		return ev.GetItem().GetKind() == plumbv1.FactKind_FACT_KIND_FILE && string(ev.GetItem().GetKey()) == checkConffile
	})

	runDpkg(t, "--force-confold", "-i", v2)
	key := checkDebName + ":all"
	ev := awaitEvent("the package's drift event with its check", func(ev *plumbv1.DriftEvent) bool {
		return ev.GetItem().GetKind() == plumbv1.FactKind_FACT_KIND_PACKAGE && string(ev.GetItem().GetKey()) == key &&
			ev.GetPackageChange().GetNewVersion() == "2.0-1"
	})
	if ev.GetType() != plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED {
		t.Errorf("package event %v, want opened (1.0-1 is the baseline)", ev.GetType())
	}
	pc := ev.GetPackageChange()
	t.Logf("package change: %s %s -> %s, %d files, %d matched, %d mismatched, %d missing, truncated %v",
		pc.GetPackage(), pc.GetOldVersion(), pc.GetNewVersion(), pc.GetFiles(),
		len(pc.GetMatched()), len(pc.GetMismatched()), len(pc.GetMissing()), pc.GetTruncated())
	if pc.GetPackage() != key || pc.GetOldVersion() != "1.0-1" || pc.GetManager() != "dpkg" || pc.GetTruncated() {
		t.Errorf("change names %q %q -> %q by %q, truncated %v; want %s 1.0-1 -> 2.0-1 by dpkg, complete",
			pc.GetPackage(), pc.GetOldVersion(), pc.GetNewVersion(), pc.GetManager(), pc.GetTruncated(), key)
	}

	// The oracle is dpkg: the package's files as dpkg -L lists them, and
	// which of them dpkg --verify finds changed or missing.
	files, changedByDpkg, missingByDpkg := dpkgVerify(t, checkDebName)
	var wantMatched []string
	for _, f := range files {
		if !slices.Contains(changedByDpkg, f) && !slices.Contains(missingByDpkg, f) {
			wantMatched = append(wantMatched, f)
		}
	}
	check := func(name string, got [][]byte, want []string) {
		t.Helper()
		gs := make([]string, 0, len(got))
		for _, p := range got {
			gs = append(gs, string(p))
		}
		sort.Strings(gs)
		sort.Strings(want)
		if !slices.Equal(gs, want) {
			t.Errorf("%s: agent %d %v\ndpkg %d %v", name, len(gs), gs, len(want), want)
		}
	}
	check("matched", pc.GetMatched(), wantMatched)
	check("mismatched", pc.GetMismatched(), changedByDpkg)
	check("missing", pc.GetMissing(), missingByDpkg)
	if int(pc.GetFiles()) != len(files) {
		t.Errorf("files %d, dpkg lists %d", pc.GetFiles(), len(files))
	}
	// The world as the test made it: the edit survived the upgrade.
	if !slices.Equal(changedByDpkg, []string{checkConffile}) || len(files) != checkFiles+1 {
		t.Errorf("dpkg --verify finds %v changed of %d files; the test meant the conffile alone of %d", changedByDpkg, len(files), checkFiles+1)
	}
}

// dpkgVerify returns the regular files dpkg lists for pkg (dpkg -L,
// directories left out), and the paths `dpkg --verify` reports as
// changed (a "5" in its digest column) or missing.
func dpkgVerify(t *testing.T, pkg string) (files, changed, missing []string) {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-L", pkg).Output()
	if err != nil {
		t.Fatalf("dpkg-query -L %s: %v", pkg, err)
	}
	for _, p := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
			continue
		}
		if p != "/." && p != "" {
			files = append(files, p)
		}
	}
	// dpkg --verify exits 1 when it finds a problem.
	out, err = exec.Command("dpkg", "--verify", pkg).Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("dpkg --verify %s: %v", pkg, err)
	}
	t.Logf("dpkg --verify %s:\n%s", pkg, out)
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		// "??5?????? c /etc/x" or "missing   c /etc/x"
		line := sc.Text()
		i := strings.Index(line, " /")
		if i < 0 {
			t.Fatalf("dpkg --verify line %q", line)
		}
		p := line[i+1:]
		switch {
		case strings.HasPrefix(line, "missing"):
			missing = append(missing, p)
		case len(line) > 2 && line[2] == '5':
			changed = append(changed, p)
		}
	}
	return files, changed, missing
}
