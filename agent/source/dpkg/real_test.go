package dpkg

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/agent/source/dpkg/dpkgtest"
)

// TestRealDatabase compares the source's facts for this machine's dpkg
// database with what dpkg-query says, one for one. Another dpkg run may
// change the database meanwhile (the e2e tests install a package): the
// source sees that too, so the comparison is tried again for a while.
func TestRealDatabase(t *testing.T) {
	dpkgtest.Need(t)
	if want, _ := dpkgtest.Installed(t); len(want) == 0 {
		t.Skip("dpkg-query lists no installed packages")
	}

	began := time.Now()
	sink := start(t, "/", nil, nil, nil)
	t.Logf("initial snapshot (packages and conffiles hashed) took %v", sink.ReadyAt().Sub(began))

	compareAgain(t, 5*time.Second, func() []string {
		var diffs []string
		want, ii := dpkgtest.Installed(t)
		got := sink.ByKind(pkgKind)
		for k, v := range want {
			f, ok := got[k]
			switch {
			case !ok:
				diffs = append(diffs, fmt.Sprintf("dpkg-query lists %s %s; the source does not", k, v))
			case f.GetPackage().GetVersion() != v:
				diffs = append(diffs, fmt.Sprintf("%s: source version %q, dpkg-query %q", k, f.GetPackage().GetVersion(), v))
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("source reports %s; dpkg-query does not list it as installed", k))
			}
		}
		if len(diffs) == 0 {
			t.Logf("compared %d package facts with %d dpkg-query installed lines (%d of them ii)", len(got), len(want), ii)
		}
		return diffs
	})

	compareAgain(t, 5*time.Second, func() []string {
		var diffs []string
		wantConf := trackedConffiles(t)
		gotConf := sink.ByKind(confKind)
		mismatched := 0
		for k, f := range gotConf {
			if !wantConf[k] {
				diffs = append(diffs, fmt.Sprintf("source reports conffile %s; dpkg-query does not list it", k))
			}
			if !f.GetConffile().GetMatches() {
				mismatched++
			}
		}
		for k := range wantConf {
			if _, ok := gotConf[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("dpkg-query lists conffile %s; the source does not", k))
			}
		}
		if len(diffs) == 0 {
			t.Logf("compared %d conffile facts with %d dpkg-query conffiles; %d differ from their recorded md5 or are missing", len(gotConf), len(wantConf), mismatched)
		}
		return diffs
	})
}

// trackedConffiles returns the tracked conffiles dpkg-query lists for
// installed packages.
func trackedConffiles(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Abbrev}\n${Conffiles}\n").Output()
	if err != nil {
		t.Fatalf("dpkg-query conffiles: %v", err)
	}
	want := map[string]bool{}
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
			want[c.Path] = true
		}
	}
	return want
}

// compareAgain runs compare until it finds no differences or timeout
// passes, then reports the differences of its last run.
func compareAgain(t *testing.T, timeout time.Duration, compare func() []string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		diffs := compare()
		if len(diffs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			sort.Strings(diffs)
			for _, d := range diffs {
				t.Error(d)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
