package dpkg

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/agent/source/dpkg/dpkgtest"
)

// TestRealDatabase compares the source's facts for this machine's dpkg
// database with what dpkg-query says, one for one.
func TestRealDatabase(t *testing.T) {
	dpkgtest.Need(t)
	want, ii := dpkgtest.Installed(t)
	if len(want) == 0 {
		t.Skip("dpkg-query lists no installed packages")
	}

	began := time.Now()
	sink := start(t, "/", nil, nil, nil)
	t.Logf("initial snapshot (packages and conffiles hashed) took %v", sink.ReadyAt().Sub(began))

	got := sink.ByKind(pkgKind)
	t.Logf("compared %d package facts with %d dpkg-query installed lines (%d of them ii)", len(got), len(want), ii)
	for k, v := range want {
		f, ok := got[k]
		if !ok {
			t.Errorf("dpkg-query lists %s %s; the source does not", k, v)
			continue
		}
		if f.GetPackage().GetVersion() != v {
			t.Errorf("%s: source version %q, dpkg-query %q", k, f.GetPackage().GetVersion(), v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("source reports %s; dpkg-query does not list it as installed", k)
		}
	}

	// Conffiles: the tracked entries dpkg-query lists for installed packages.
	out, err := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Abbrev}\n${Conffiles}\n").Output()
	if err != nil {
		t.Fatalf("dpkg-query conffiles: %v", err)
	}
	wantConf := map[string]bool{}
	installed := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, " ") {
			installed = len(line) >= 2 && line[1] != 'n' && line[1] != 'c'
			continue
		}
		if !installed {
			continue
		}
		c, err := parseConffile(line)
		if err != nil {
			t.Fatalf("dpkg-query conffile line %q: %v", line, err)
		}
		if c.Tracked() {
			wantConf[c.Path] = true
		}
	}
	gotConf := sink.ByKind(confKind)
	mismatched := 0
	for k, f := range gotConf {
		if !wantConf[k] {
			t.Errorf("source reports conffile %s; dpkg-query does not list it", k)
		}
		if !f.GetConffile().GetMatches() {
			mismatched++
		}
	}
	for k := range wantConf {
		if _, ok := gotConf[k]; !ok {
			t.Errorf("dpkg-query lists conffile %s; the source does not", k)
		}
	}
	t.Logf("compared %d conffile facts with %d dpkg-query conffiles; %d differ from their recorded md5 or are missing", len(gotConf), len(wantConf), mismatched)
}
