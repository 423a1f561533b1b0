package pkgver

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fixed pairs every run checks besides the random ones: the cases a
// string comparison gets wrong.
var fixed = [][2]string{
	{"1.10", "1.9"}, {"1.0~rc1", "1.0"}, {"1.0", "1.0-0"}, {"1:0.1", "2.0"}, {"1.0a", "1.0"},
	{"1.0+b1", "1.0"}, {"1.0~~", "1.0~"}, {"001.2", "1.2"}, {"1.22.1-9", "1.24"}, {"2.0-1", "2.0-1.1"},
	{"1.0^1", "1.0"}, {"1.0^", "1.0~"}, {"1..0", "1.0"}, {"a", "1"}, {"1.0.a", "1.0.1"},
}

// randomVersion returns a version both tools accept: an optional epoch,
// an upstream part that starts with a digit, an optional revision.
func randomVersion(r *rand.Rand, chars string) string {
	var b strings.Builder
	if r.IntN(5) == 0 {
		fmt.Fprintf(&b, "%d:", r.IntN(3))
	}
	b.WriteByte(byte('0' + r.IntN(10)))
	part := func(n int) {
		for range n {
			switch r.IntN(4) {
			case 0:
				b.WriteString(strconv.Itoa(r.IntN(120)))
			default:
				b.WriteByte(chars[r.IntN(len(chars))])
			}
		}
	}
	part(r.IntN(6))
	if r.IntN(2) == 0 {
		b.WriteByte('-')
		b.WriteByte(byte('0' + r.IntN(10)))
		part(r.IntN(4))
	}
	return b.String()
}

// mutate returns a version near v, so that many pairs share long prefixes.
func mutate(r *rand.Rand, v, chars string) string {
	if v == "" || r.IntN(4) == 0 {
		return randomVersion(r, chars)
	}
	i := r.IntN(len(v))
	switch r.IntN(3) {
	case 0:
		return v[:i] + string(chars[r.IntN(len(chars))]) + v[i:]
	case 1:
		if len(v) > 1 { // never "", which no package has
			return v[:i] + v[i+1:]
		}
	}
	return v + string(chars[r.IntN(len(chars))])
}

func pairs(t *testing.T, chars string, n int) [][2]string {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed>>7))
	out := append([][2]string(nil), fixed...)
	for range n {
		a := randomVersion(r, chars)
		out = append(out, [2]string{a, mutate(r, a, chars)})
	}
	return out
}

func TestDpkgMatchesDpkg(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Fatalf("the dpkg oracle is needed: %v", err)
	}
	ps := pairs(t, "0123456789abcz.+~", 400)
	// One shell runs every comparison: the answer per pair is -1, 0 or 1,
	// or x where dpkg refuses a version (status 2), which is skipped.
	var script strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&script, "dpkg --compare-versions '%s' lt '%s' 2>/dev/null; r=$?; if [ $r = 0 ]; then echo -1; elif [ $r = 1 ]; then if dpkg --compare-versions '%s' eq '%s' 2>/dev/null; then echo 0; else echo 1; fi; else echo x; fi\n", p[0], p[1], p[0], p[1])
	}
	out, err := exec.Command("sh", "-c", script.String()).Output()
	if err != nil {
		t.Fatalf("dpkg: %v\n%s", err, out)
	}
	compareWithOracle(t, "dpkg", ps, string(out), Dpkg)
}

func TestRPMMatchesRpm(t *testing.T) {
	if _, err := exec.LookPath("rpm"); err != nil {
		t.Fatalf("the rpm oracle is needed: %v", err)
	}
	ps := pairs(t, "0123456789abcz.+~^_", 600)
	// One rpm process evaluates every pair in Lua, one answer a line.
	var lua strings.Builder
	lua.WriteString("%{lua:\n")
	for _, p := range ps {
		fmt.Fprintf(&lua, "do local ok, r = pcall(rpm.vercmp, %q, %q); if ok then print(r) else print(\"x\") end; print(\"\\n\") end\n", p[0], p[1])
	}
	lua.WriteString("}")
	out, err := exec.Command("rpm", "--eval", lua.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("rpm: %v\n%s", err, out)
	}
	compareWithOracle(t, "rpm", ps, string(out), RPM)
}

func compareWithOracle(t *testing.T, tool string, ps [][2]string, out string, cmp func(a, b string) int) {
	t.Helper()
	got := strings.Fields(out)
	if len(got) != len(ps) {
		t.Fatalf("%s gave %d answers for %d pairs:\n%s", tool, len(got), len(ps), out)
	}
	bad, skipped := 0, 0
	for i, p := range ps {
		if got[i] == "x" {
			skipped++
			continue
		}
		want, err := strconv.Atoi(got[i])
		if err != nil {
			t.Fatalf("%s answer %q: %v", tool, got[i], err)
		}
		if c := cmp(p[0], p[1]); c != sign(want) {
			bad++
			t.Errorf("%q vs %q: got %d, %s says %d", p[0], p[1], c, tool, want)
		}
	}
	t.Logf("%d pairs agree with %s (%d it refused)", len(ps)-bad-skipped, tool, skipped)
	if len(ps)-skipped < len(ps)/2 {
		t.Fatalf("%s refused %d of %d pairs: the generator makes too few valid versions", tool, skipped, len(ps))
	}
}
