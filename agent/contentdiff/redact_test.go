package contentdiff

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRedactLineStyles(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"password = hunter2", "password = " + Marker},
		{"TOKEN: abc123", "TOKEN: " + Marker},
		{`  "api_key": "k-123",`, `  "api_key": ` + Marker},
		{"export DB_PASSWORD=s3cr3t", "export DB_PASSWORD=" + Marker},
		{"client_secret   xyz", "client_secret   " + Marker},
		{"ExecStart=/usr/bin/app --token=abc --verbose", "ExecStart=/usr/bin/app --token=" + Marker},
		{"# secret: old-one", "# secret: " + Marker},
		{"apikey=zzz", "apikey=" + Marker},
		{"PrivateKey = wg-base64=", "PrivateKey = " + Marker},
		{"url = https://bob:pw0rd@db.example:5432/x", "url = https://bob:" + Marker + "@db.example:5432/x"},
		// Kept: switches, and lines without a secret name or value.
		{"PasswordAuthentication yes", ""},
		{"PermitRootLogin prohibit-password", ""},
		{"use_tokens = false", ""},
		{"listen 80;", ""},
		{"[secrets]", ""},
		{"password", ""},
	} {
		got, changed := RedactLine(tc.in)
		want := tc.want
		if want == "" {
			want = tc.in
		}
		if got != want || changed != (tc.want != "") {
			t.Errorf("RedactLine(%q) = %q, %v; want %q, %v", tc.in, got, changed, want, tc.want != "")
		}
	}
}

// secretStyles write a line that carries the secret v.
var secretStyles = []func(v string) string{
	func(v string) string { return "password = " + v },
	func(v string) string { return "TOKEN: " + v },
	func(v string) string { return `  "api_key": "` + v + `",` },
	func(v string) string { return "export APP_SECRET=" + v },
	func(v string) string { return "db.passwd " + v },
	func(v string) string { return "dsn: postgres://app:" + v + "@db/app" },
	func(v string) string { return "Credential=" + v },
}

func pemBlock(r *rand.Rand, v string) []string {
	kind := []string{"RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", ""}[r.IntN(5)]
	lines := []string{"-----BEGIN " + kind + "PRIVATE KEY-----"}
	for range 1 + r.IntN(4) {
		lines = append(lines, pemBody(r, v))
	}
	return append(lines, "-----END "+kind+"PRIVATE KEY-----")
}

// pemBody is a line of a key's base64: the secret and noise.
func pemBody(r *rand.Rand, v string) string { return v + word(r, 20) }

func word(r *rand.Rand, n int) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alpha[r.IntN(len(alpha))]
	}
	return string(b)
}

// TestUnifiedRedactsAndShowsExactlyTheChangedLines builds random config
// files with secret lines of every style, changes random lines (secret or
// not), and checks the diff: no secret value appears anywhere in it, it
// says redacted when a secret line is in it, and its -/+ lines, with
// secret lines set aside, are exactly the lines that were replaced.
func TestUnifiedRedactsAndShowsExactlyTheChangedLines(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	for round := range 300 {
		var secrets []string
		secret := func() string {
			v := "S3CR" + word(r, 12)
			secrets = append(secrets, v)
			return v
		}
		n := 5 + r.IntN(200)
		var old []string
		isSecret := map[string]bool{}
		inPEM := map[string]bool{}
		uniq := 0
		plain := func() string {
			uniq++
			return fmt.Sprintf("option_%d = %s", uniq, word(r, 1+r.IntN(30)))
		}
		for len(old) < n {
			switch r.IntN(10) {
			case 0:
				l := secretStyles[r.IntN(len(secretStyles))](secret())
				isSecret[l] = true
				old = append(old, l)
			case 1:
				if r.IntN(5) == 0 {
					block := pemBlock(r, secret())
					for i, l := range block {
						isSecret[l] = true
						inPEM[l] = i > 0 && i < len(block)-1
						old = append(old, l)
					}
				}
			default:
				old = append(old, plain())
			}
		}
		// Replace a few lines (each index at most once).
		cur := append([]string(nil), old...)
		removed, added := map[string]int{}, map[string]int{}
		for _, i := range r.Perm(len(cur))[:1+r.IntN(min(8, len(cur)))] {
			if strings.HasPrefix(cur[i], "-----") {
				continue // keep the PEM frames, so blocks stay blocks
			}
			var nl string
			switch {
			case inPEM[cur[i]]:
				// A key's line changes to another key line.
				nl = pemBody(r, secret())
				isSecret[nl] = true
			case isSecret[cur[i]] && r.IntN(2) == 0:
				nl = secretStyles[r.IntN(len(secretStyles))](secret())
				isSecret[nl] = true
			default:
				nl = plain()
			}
			removed[cur[i]]++
			added[nl]++
			cur[i] = nl
		}
		oldText := strings.Join(old, "\n") + "\n"
		newText := strings.Join(cur, "\n") + "\n"
		d := Unified("/etc/app.conf", []byte(oldText), []byte(newText), 0)

		for _, v := range secrets {
			if strings.Contains(d.Unified, v) || strings.Contains(d.Unified, v[4:]) {
				t.Fatalf("round %d: secret %q in diff:\n%s", round, v, d.Unified)
			}
		}
		gotRemoved, gotAdded := map[string]int{}, map[string]int{}
		sawSecret := false
		for _, l := range strings.Split(d.Unified, "\n") {
			if strings.HasPrefix(l, "---") || strings.HasPrefix(l, "+++") {
				continue
			}
			if strings.Contains(l, Marker) {
				sawSecret = true
			}
			switch {
			case strings.HasPrefix(l, "-"):
				gotRemoved[l[1:]]++
			case strings.HasPrefix(l, "+"):
				gotAdded[l[1:]]++
			}
		}
		if sawSecret != d.Redacted {
			t.Fatalf("round %d: redacted=%v, marker in diff %v:\n%s", round, d.Redacted, sawSecret, d.Unified)
		}
		check := func(what string, want, got map[string]int) {
			nSecret := 0
			for l, c := range want {
				if isSecret[l] {
					nSecret += c
					continue
				}
				if got[l] != c {
					t.Fatalf("round %d: %s line %q: %d times in diff, want %d:\n%s", round, what, l, got[l], c, d.Unified)
				}
				delete(got, l)
			}
			// What is left are the secret lines, redacted.
			left := 0
			for l, c := range got {
				if !strings.Contains(l, Marker) {
					t.Fatalf("round %d: %s line %q in diff, not changed:\n%s", round, what, l, d.Unified)
				}
				left += c
			}
			if left != nSecret {
				t.Fatalf("round %d: %d redacted %s lines, want %d:\n%s", round, left, what, nSecret, d.Unified)
			}
		}
		check("removed", removed, gotRemoved)
		check("added", added, gotAdded)
	}
}

func TestUnifiedCutsAtALineEnd(t *testing.T) {
	var old, cur strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&old, "line %d\n", i)
		fmt.Fprintf(&cur, "line %d changed\n", i)
	}
	d := Unified("/etc/big", []byte(old.String()), []byte(cur.String()), 4096)
	if !d.Cut || len(d.Unified) > 4096 {
		t.Fatalf("cut=%v len=%d, want cut to at most 4096", d.Cut, len(d.Unified))
	}
	lines := strings.Split(strings.TrimSuffix(d.Unified, "\n"), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "... diff cut at 4096 of ") {
		t.Fatalf("last line %q, want the cut note", last)
	}
	for _, l := range lines[2 : len(lines)-1] {
		if !strings.HasPrefix(l, "@@") && !strings.HasPrefix(l, "-line ") && !strings.HasPrefix(l, "+line ") && !strings.HasPrefix(l, " line") {
			t.Fatalf("line %q cut in the middle", l)
		}
	}
}

func TestUnifiedEqualIsEmpty(t *testing.T) {
	if d := Unified("/x", []byte("a\n"), []byte("a\n"), 100); d.Unified != "" || d.Redacted || d.Cut {
		t.Fatalf("equal contents gave %+v", d)
	}
}

func TestText(t *testing.T) {
	for in, want := range map[string]bool{"": true, "a\n": true, "café\n": true, "a\x00b": false, "caf\xe9": false} {
		if got := Text([]byte(in)); got != want {
			t.Errorf("Text(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestUnifiedMatchesDiffU compares the diff of random edits, secrets
// aside, with what diff -u prints for the same two files.
func TestUnifiedMatchesDiffU(t *testing.T) {
	diffPath, err := exec.LookPath("diff")
	if err != nil {
		t.Fatalf("diff (GNU diffutils) is needed to check against: %v", err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	for round := range 60 {
		var old []string
		for i := range 1 + r.IntN(150) {
			old = append(old, fmt.Sprintf("key%d = %s", i, word(r, 1+r.IntN(10))))
		}
		cur := append([]string(nil), old...)
		for range 1 + r.IntN(10) {
			i := r.IntN(len(cur) + 1)
			switch r.IntN(3) {
			case 0:
				cur = append(cur[:i], append([]string{"new " + word(r, 8)}, cur[i:]...)...)
			case 1:
				if i < len(cur) {
					cur = append(cur[:i], cur[i+1:]...)
				}
			default:
				if i < len(cur) {
					cur[i] = "changed " + word(r, 8)
				}
			}
		}
		oldText := strings.Join(old, "\n") + "\n"
		newText := strings.Join(cur, "\n") + "\n"
		if r.IntN(4) == 0 {
			newText = strings.TrimSuffix(newText, "\n")
		}
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		if err := os.WriteFile(a, []byte(oldText), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(b, []byte(newText), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(diffPath, "-u", "--label", "a/f", "--label", "b/f", a, b).Output()
		if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 1) {
			t.Fatalf("diff -u: %v", err)
		}
		d := Unified("/f", []byte(oldText), []byte(newText), 0)
		// diff -u may pick other lines as equal when a line repeats; with
		// unique lines both must agree on the changed lines and hunks.
		if got, want := changedLines(d.Unified), changedLines(string(out)); got != want {
			t.Fatalf("round %d: diff disagrees with diff -u\nours:\n%s\ndiff -u:\n%s", round, d.Unified, out)
		}
	}
}

// changedLines is a diff's hunk headers and -/+ lines, in order.
func changedLines(d string) string {
	var b strings.Builder
	for _, l := range strings.Split(d, "\n") {
		if strings.HasPrefix(l, "@@") || (strings.HasPrefix(l, "-") && !strings.HasPrefix(l, "---")) ||
			(strings.HasPrefix(l, "+") && !strings.HasPrefix(l, "+++")) || strings.HasPrefix(l, `\`) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
