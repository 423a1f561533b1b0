package e2e

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/agent/source/dpkg/dpkgtest"
)

// TestDpkgPackageDrift installs and removes a real package on this machine
// and follows it through a real agent running the dpkg and kernel sources
// against the real /var/lib/dpkg and /proc, a real collector and a webhook
// receiver: dpkg -i opens drift for the package, dpkg -r resolves it. On
// the way it checks that plumbctl shows the host's package, conffile,
// kernel and sysctl facts as dpkg-query and /proc see them.
func TestDpkgPackageDrift(t *testing.T) {
	needDpkg(t)
	t.Parallel()
	deb := buildDeb(t)
	purgeDebAtCleanup(t)

	dir := t.TempDir()
	const host = "pkg-host"
	h := newHook(t)
	col := startCollector(t, filepath.Join(dir, "collector"), h.srv.URL)
	began := time.Now()
	startSourcesAgent(t, col.addr, filepath.Join(dir, "agent"), host, "dpkg,kernel")
	base := waitBaseline(t, col.addr, host)
	t.Logf("baseline of %d facts (dpkg packages and conffiles, kernel state) after %v", base.FactCount, time.Since(began))

	t.Run("facts", func(t *testing.T) {
		comparePackagesWithDpkgQuery(t, col.addr, host)
		checkKernelFacts(t, col.addr, host)
		conf := hostFacts(t, col.addr, host, "conffile")
		matching := 0
		for k, f := range conf {
			if f.attr("manager") != "dpkg" || f.attr("algorithm") != "md5" || !strings.Contains(f.attr("package"), ":") {
				t.Errorf("conffile %s: attributes %v, want a dpkg md5 conffile owned by name:arch", k, f.Attributes)
			}
			if f.Attributes["matches"] == true {
				matching++
			}
		}
		if len(conf) == 0 {
			t.Error("no conffile facts; a Debian host has conffiles under /etc")
		}
		t.Logf("%d conffile facts, %d matching their recorded md5", len(conf), matching)
	})

	began = time.Now()
	runDpkg(t, "-i", deb)
	installed := time.Now()
	opened := h.await(t, hookWait, "package added", is("drift.opened", host, "added", debKey))
	t.Logf("dpkg -i ran %v; drift.opened webhook %v after it returned", installed.Sub(began), time.Since(installed))
	if opened.Kind != "package" || eventAttr(opened, false, "version") != debVersion ||
		eventAttr(opened, false, "arch") != "all" || eventAttr(opened, false, "manager") != "dpkg" {
		t.Fatalf("package opened event: kind %s current %v", opened.Kind, opened.Current)
	}
	h.await(t, hookWait, "conffile added", is("drift.opened", host, "added", debConffile))

	t.Run("conffile_fact", func(t *testing.T) {
		sum := md5.Sum([]byte(debConfText))
		f, ok := hostFacts(t, col.addr, host, "conffile")[debConffile]
		if !ok {
			t.Fatalf("plumbctl facts --kind conffile lacks %s while %s is installed", debConffile, debName)
		}
		if f.attr("package") != debKey || f.attr("digest") != hex.EncodeToString(sum[:]) ||
			f.Attributes["present"] != true || f.Attributes["matches"] != true {
			t.Errorf("conffile fact %v; want owned by %s, md5 %x, present and matching", f.Attributes, debKey, sum)
		}
		if _, ok := hostFacts(t, col.addr, host, "package")[debKey]; !ok {
			t.Errorf("plumbctl facts --kind package lacks %s while it is installed", debKey)
		}
	})

	began = time.Now()
	runDpkg(t, "-r", debName)
	removed := time.Now()
	res := h.await(t, hookWait, "package removed", is("drift.resolved", host, "", debKey))
	t.Logf("dpkg -r ran %v; drift.resolved webhook %v after it returned", removed.Sub(began), time.Since(removed))
	if res.ItemID != opened.ItemID {
		t.Errorf("resolved item %s, opened item %s", res.ItemID, opened.ItemID)
	}
	// dpkg -r keeps the conffile on disk, but a removed package's
	// conffiles are not facts: back to the baseline, absent.
	h.await(t, hookWait, "conffile resolved", is("drift.resolved", host, "", debConffile))
	var open []map[string]any
	ctlJSON(t, col.addr, &open, "drift", "--host", host)
	for _, it := range open {
		if k := it["key"]; k == debKey || k == debConffile {
			t.Errorf("drift still open after dpkg -r: %v", it)
		}
	}
}

// comparePackagesWithDpkgQuery checks the collector's package facts for
// host against dpkg-query one for one. It tries again for a while, so that
// a package manager run elsewhere on the machine has time to reach the
// collector.
func comparePackagesWithDpkgQuery(t *testing.T, addr, host string) {
	t.Helper()
	var diffs []string
	var got map[string]factJSON
	var want map[string]string
	var ii int
	deadline := time.Now().Add(10 * time.Second)
	for {
		want, ii = dpkgtest.Installed(t)
		got = hostFacts(t, addr, host, "package")
		diffs = packageDiffs(got, want)
		if len(diffs) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(want) == 0 {
		t.Fatal("dpkg-query lists no installed packages")
	}
	for _, d := range diffs {
		t.Error(d)
	}
	t.Logf("compared %d package facts with %d installed dpkg-query lines (%d of them ii)", len(got), len(want), ii)
}

func packageDiffs(got map[string]factJSON, want map[string]string) []string {
	var out []string
	for k, v := range want {
		f, ok := got[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("dpkg-query lists %s %s; plumbctl facts does not", k, v))
		case f.attr("version") != v || f.attr("manager") != "dpkg":
			out = append(out, fmt.Sprintf("%s: plumbctl shows %v, dpkg-query version %q", k, f.Attributes, v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("plumbctl facts shows package %s; dpkg-query does not list it as installed", k))
		}
	}
	sort.Strings(out)
	return out
}

// checkKernelFacts checks the kernel, sysctl and kmod facts plumbctl shows
// for host against /proc.
func checkKernelFacts(t *testing.T, addr, host string) {
	t.Helper()
	release := strings.TrimSpace(readProc(t, "sys/kernel/osrelease"))
	kernel := hostFacts(t, addr, host, "kernel")
	if got := kernel["release"].attr("value"); got != release {
		t.Errorf("kernel release fact %q, /proc says %q", got, release)
	}
	if _, ok := kernel["cmdline"]; !ok {
		t.Error("no kernel cmdline fact")
	}

	sysctl := hostFacts(t, addr, host, "sysctl")
	for _, name := range []string{"kernel.osrelease", "net.ipv4.ip_forward", "vm.swappiness"} {
		file := "sys/" + strings.ReplaceAll(name, ".", "/")
		if _, err := os.Stat(filepath.Join("/proc", file)); err != nil {
			t.Logf("sysctl %s not compared: %v", name, err)
			continue
		}
		want := strings.TrimSpace(readProc(t, file))
		if got := sysctl[name].attr("value"); got != want {
			t.Errorf("sysctl %s fact %q, /proc/%s says %q", name, got, file, want)
		}
	}

	kmod := hostFacts(t, addr, host, "kmod")
	mods, err := os.ReadFile("/proc/modules")
	switch {
	case os.IsNotExist(err):
		if len(kmod) != 0 {
			t.Errorf("no /proc/modules on this kernel, yet %d kmod facts", len(kmod))
		}
	case err != nil:
		t.Logf("/proc/modules unreadable (%v): kmod facts not compared", err)
	default:
		// Modules load and unload as the machine runs: compare presence,
		// not the exact list.
		if strings.TrimSpace(string(mods)) != "" && len(kmod) == 0 {
			t.Error("/proc/modules lists modules, yet there are no kmod facts")
		}
	}
	t.Logf("%d kernel, %d sysctl and %d kmod facts (kmod empty where /proc/modules is absent)", len(kernel), len(sysctl), len(kmod))
}

func readProc(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
