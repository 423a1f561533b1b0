package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/agent/source/rpm/rpmtest"
)

// TestRPMPackageDrift installs tiny rpms into a host root with the real
// rpm tool and follows them through a real agent running the rpm source
// on that root: the collector's facts match rpm -qa, and rpm -e opens
// drift for the erased package, which a reinstall resolves.
func TestRPMPackageDrift(t *testing.T) {
	rpmtest.Need(t)
	t.Parallel()
	rpms := buildRPMs(t, "plumbe2e-conf", "plumbe2e-data")
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	rpmtest.Install(t, root, rpms["plumbe2e-conf"], rpms["plumbe2e-data"])

	const host = "rpm-host"
	h := newHook(t)
	col := startCollector(t, filepath.Join(dir, "collector"), h.srv.URL)
	startSourcesAgent(t, col.addr, filepath.Join(dir, "agent"), host, "rpm", "--host-root", root)
	waitBaseline(t, col.addr, host)

	want := rpmtest.Installed(t, root)
	if want["plumbe2e-conf.noarch"] != "2:1.2-3" || want["plumbe2e-data.noarch"] != "0.9-1" || len(want) != 2 {
		t.Fatalf("rpm -qa after install = %v; the test packages did not install as expected", want)
	}
	comparePackagesWithRPM(t, col.addr, host, want)

	conf := hostFacts(t, col.addr, host, "conffile")
	wantConf := rpmtest.ConfigFiles(t, root)
	if len(wantConf) != 2 || len(conf) != len(wantConf) {
		t.Errorf("conffiles: plumbctl shows %d, rpm lists %v; want the 2 non-ghost %%config files", len(conf), wantConf)
	}
	for path, digest := range wantConf {
		f := conf[path]
		if f.attr("digest") != digest || f.attr("manager") != "rpm" || f.attr("package") != "plumbe2e-conf.noarch" ||
			f.Attributes["present"] != true || f.Attributes["matches"] != true {
			t.Errorf("conffile %s: plumbctl shows %v; rpm digest %s, want present and matching", path, f.Attributes, digest)
		}
	}
	if sum := sha256.Sum256([]byte("setting=1\n")); conf["/etc/plumbe2e/app.conf"].attr("digest") != hex.EncodeToString(sum[:]) {
		t.Errorf("app.conf digest %s, want the sha256 of its packaged content", conf["/etc/plumbe2e/app.conf"].attr("digest"))
	}
	t.Logf("compared %d package and %d conffile facts with rpm", len(want), len(wantConf))

	erased := time.Now()
	rpmtest.Cmd(t, root, "-e", "--nodeps", "--noscripts", "plumbe2e-data")
	ev := h.await(t, hookWait, "package erased", is("drift.opened", host, "removed", "plumbe2e-data.noarch"))
	t.Logf("rpm -e to drift.opened webhook: %v", time.Since(erased))
	if ev.Current != nil || eventAttr(ev, true, "version") != "0.9-1" || eventAttr(ev, true, "manager") != "rpm" {
		t.Errorf("removed event: baseline %v current %v; want the baseline package and no current", ev.Baseline, ev.Current)
	}
	comparePackagesWithRPM(t, col.addr, host, rpmtest.Installed(t, root))

	rpmtest.Install(t, root, rpms["plumbe2e-data"])
	res := h.await(t, hookWait, "package reinstalled", is("drift.resolved", host, "", "plumbe2e-data.noarch"))
	if res.ItemID != ev.ItemID {
		t.Errorf("resolved item %s, opened item %s", res.ItemID, ev.ItemID)
	}
	for _, e := range h.events() {
		if e.Key == "plumbe2e-conf.noarch" {
			t.Errorf("untouched package reported: %s %s", e.Type, e.Change)
		}
	}
}

// comparePackagesWithRPM checks the collector's package facts for host
// against rpm -qa one for one, trying again until the agent's latest
// reading has reached the collector.
func comparePackagesWithRPM(t *testing.T, addr, host string, want map[string]string) {
	t.Helper()
	var diffs []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		diffs = diffs[:0]
		got := hostFacts(t, addr, host, "package")
		for k, v := range want {
			if f, ok := got[k]; !ok || f.attr("version") != v || f.attr("manager") != "rpm" {
				diffs = append(diffs, "rpm -qa lists "+k+" "+v+"; plumbctl shows "+f.attr("version"))
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				diffs = append(diffs, "plumbctl shows package "+k+"; rpm -qa does not list it")
			}
		}
		if len(diffs) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, d := range diffs {
		t.Error(d)
	}
}

// buildRPMs builds testdata/NAME.spec for each name and returns name ->
// .rpm path.
func buildRPMs(t *testing.T, names ...string) map[string]string {
	t.Helper()
	top := t.TempDir()
	for _, n := range names {
		spec, err := filepath.Abs(filepath.Join("testdata", n+".spec"))
		if err != nil {
			t.Fatal(err)
		}
		if err := rpmtest.Build(top, spec); err != nil {
			t.Fatal(err)
		}
	}
	built := rpmtest.Built(top) // name-version -> path
	out := map[string]string{}
	for nv, path := range built {
		for _, n := range names {
			if strings.HasPrefix(nv, n+"-") {
				out[n] = path
			}
		}
	}
	if len(out) != len(names) || len(built) != len(names) {
		t.Fatalf("rpmbuild %v: built %v", names, built)
	}
	return out
}
