package kernel

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestRealProc runs the source on this machine's /proc and compares its
// sysctls with sysctl -a, one for one.
func TestRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/sys/kernel/osrelease"); err != nil {
		t.Skipf("no /proc: %v", err)
	}
	began := time.Now()
	sink := start(t, "/", map[string]any{"interval": "1h"})
	t.Logf("initial snapshot of the real /proc took %v", sink.ReadyAt().Sub(began))

	release, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	if got := val(sink.Get(kernelKind, "release")); got != strings.TrimSpace(string(release)) || got == "" {
		t.Errorf("release = %q, want %q", got, strings.TrimSpace(string(release)))
	}
	if sink.Get(kernelKind, "cmdline") == nil {
		t.Error("no cmdline fact")
	}
	mods := sink.ByKind(kmodKind)
	if f, err := os.Open("/proc/modules"); err == nil {
		want, err := ParseModules(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(mods) != len(want) {
			t.Errorf("%d kmod facts, /proc/modules has %d", len(mods), len(want))
		}
	} else if len(mods) != 0 {
		t.Errorf("no /proc/modules, but %d kmod facts", len(mods))
	}
	got := sink.ByKind(sysctlKind)
	t.Logf("%d sysctl facts, %d kmod facts", len(got), len(mods))

	if _, err := exec.LookPath("sysctl"); err != nil {
		t.Skip("sysctl(8) not installed: cannot compare")
	}
	out, err := exec.Command("sysctl", "-a").Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("sysctl -a: %v", err)
	}
	prefixes := DefaultConfig().SysctlPrefixes
	want := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " = ")
		if !ok {
			name, ok = strings.CutSuffix(sc.Text(), " =")
			if !ok {
				continue
			}
		}
		if !inPrefixes(prefixes, name) || ignored(DefaultSysctlIgnore, name) {
			continue
		}
		if old, dup := want[name]; dup { // sysctl prints a multi-line value as one line per line
			v = old + "\n" + v
		}
		want[name] = v
	}
	matched := 0
	for name, v := range want {
		f, ok := got[name]
		if !ok {
			t.Errorf("sysctl -a shows %s, the source does not", name)
			continue
		}
		if g := val(f); g != normalizeValue(v) {
			t.Errorf("%s: source %q, sysctl -a %q", name, g, v)
			continue
		}
		matched++
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("source reports %s, sysctl -a does not", name)
		}
	}
	t.Logf("compared with sysctl -a: %d of %d sysctls equal", matched, len(want))
}

func inPrefixes(prefixes []string, name string) bool {
	for _, p := range prefixes {
		if name == p || strings.HasPrefix(name, p+".") {
			return true
		}
	}
	return false
}
