// Package dpkgtest asks this machine's dpkg what it holds, for tests that
// compare the dpkg source with it one for one.
package dpkgtest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Need skips the test unless this machine has dpkg-query and a dpkg
// database.
func Need(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("dpkg-query not installed: not a Debian-based host")
	}
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skipf("no dpkg database: %v", err)
	}
}

// Installed returns "name:arch" -> version for every package dpkg-query
// lists as installed in the dpkg source's sense (any status but
// not-installed and config-files), and how many of them are "ii".
func Installed(t testing.TB) (pkgs map[string]string, ii int) {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${Package}:${Architecture} ${Version}\n").Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	pkgs = map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if len(line) < 4 {
			continue
		}
		abbrev, rest := line[:3], strings.Fields(line[3:])
		if abbrev[1] == 'n' || abbrev[1] == 'c' || len(rest) == 0 {
			continue
		}
		if abbrev[:2] == "ii" {
			ii++
		}
		v := ""
		if len(rest) > 1 {
			v = rest[1]
		}
		pkgs[rest[0]] = v
	}
	return pkgs, ii
}
