package termsafe

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain", "web-1", "web-1"},
		{"utf8", "café ünïcode 日本", "café ünïcode 日本"},
		{"empty", "", ""},
		{"backslash", `a\b`, `a\\b`},
		{"escape looks", `\x1b`, `\\x1b`},
		{"csi", "\x1b[2J\x1b[H", `\x1b[2J\x1b[H`},
		{"osc title", "\x1b]0;pwned\x07", `\x1b]0;pwned\x07`},
		{"cr", "ok\rFAKE", `ok\x0dFAKE`},
		{"tab newline", "a\tb\nc", `a\x09b\x0ac`},
		{"del", "a\x7fb", `a\x7fb`},
		{"c1 csi", "a\u009b2J", `a\u009b2J`},
		{"c1 nel", "a\u0085b", `a\u0085b`},
		{"raw c1 byte", "a\x9bb", `a\x9bb`},
		{"rlo", "abc\u202Etxt.exe", `abc\u202etxt.exe`},
		{"isolates", "\u2066x\u2069", `\u2066x\u2069`},
		{"lrm rlm alm", "\u200E\u200F\u061C", `\u200e\u200f\u061c`},
		{"zero width", "a\u200Bb\u200Cc\u200Dd\u2060e\uFEFF", `a\u200bb\u200cc\u200dd\u2060e\ufeff`},
		{"line separators", "a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"nbsp", "web\u00A01", `web\u00a01`},
		{"hangul filler", "a\u3164b", `a\u3164b`},
		{"tag char", "a\U000E0041b", `a\U000e0041b`},
		{"invalid utf8", "caf\xe9", `caf\xe9`},
		{"truncated rune", "\xe2\x80", `\xe2\x80`},
		{"surrogate bytes", "\xed\xa0\x80", `\xed\xa0\x80`},
		{"replacement char", "\uFFFD", "\uFFFD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := String(tc.in); got != tc.want {
				t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if got := Bytes([]byte(tc.in)); got != tc.want {
				t.Errorf("Bytes(%q) = %q, want %q", tc.in, got, tc.want)
			}
			back, err := Parse(tc.want)
			if err != nil || string(back) != tc.in {
				t.Errorf("Parse(%q) = %q, %v; want %q", tc.want, back, err, tc.in)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{`plain`, "plain", true},
		{`\x41\u0042\U00000043`, "ABC", true},
		{`\xE9`, "\xe9", true},
		{`\u00e9`, "é", true},
		{`\\\\`, `\\`, true},
		{"raw\tcontrol", "raw\tcontrol", true},
		{`\`, "", false},
		{`a\`, "", false},
		{`\q`, "", false},
		{`\x4`, "", false},
		{`\x4g`, "", false},
		{`\x 1`, "", false},
		{`\x+1`, "", false},
		{`\u12`, "", false},
		{`\ud800`, "", false},
		{`\U00110000`, "", false},
		{`\Uffffffff`, "", false},
	} {
		got, err := Parse(tc.in)
		if (err == nil) != tc.ok || (tc.ok && string(got) != tc.want) {
			t.Errorf("Parse(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestSafe(t *testing.T) {
	for in, want := range map[string]bool{
		"web-1":       true,
		`back\slash`:  true,
		"café":        true,
		"\uFFFD":      true,
		"a\x1b":       false,
		"a\u009b":     false,
		"\u202e":      false,
		"\xff":        false,
		"two  spaces": true,
	} {
		if got := Safe(in); got != want {
			t.Errorf("Safe(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestJSON(t *testing.T) {
	in := "a\x7fb\u009bc\u202ed\u200be\U000E0041f\x1bg\u00e9"
	enc, err := json.Marshal(map[string]string{"k\u2066": in})
	if err != nil {
		t.Fatal(err)
	}
	got := string(JSON(enc))
	want := `{"k\u2066":"a\u007fb\u009bc\u202ed\u200be\udb40\udc41f\u001bgé"}`
	if got != want {
		t.Errorf("JSON = %s\nwant   %s", got, want)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(got), &m); err != nil || m["k\u2066"] != in {
		t.Errorf("decoded %q, %v; want %q", m, err, in)
	}
	indented := []byte("{\n  \"a\": \"b\"\n}\n")
	if got := JSON(indented); !bytes.Equal(got, indented) {
		t.Errorf("JSON changed clean input: %q", got)
	}
}

// checkTerminalSafe fails t unless s is valid UTF-8 with no C0 control,
// DEL, or rune that String escapes.
func checkTerminalSafe(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("%s: not UTF-8: %q", what, s)
	}
	for i, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) ||
			(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) ||
			(r >= utf8.RuneSelf && mustEscape(r)) {
			t.Fatalf("%s: raw %U at offset %d in %q", what, r, i, s)
		}
	}
}

var seeds = []string{
	"", "web-1", `a\b`, `\x41`, "\x1b[31mred", "\r\n\t\a\b\f\v", "\x7f", "\u009b\u0085",
	"\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069", "\u200b\u200d\ufeff",
	"\xff\xfe", "\xe2\x80", "\xed\xa0\x80", "\U000E0041", "café", "日本\u3000語",
}

// FuzzBytes checks that Bytes output is terminal-safe, that Parse undoes
// it (so distinct inputs give distinct outputs), and that String agrees.
func FuzzBytes(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out := Bytes(b)
		checkTerminalSafe(t, "Bytes", out)
		if !Safe(out) {
			t.Fatalf("Safe(Bytes(%q)) = false", b)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Bytes(%q)) = %v", b, err)
		}
		if !bytes.Equal(back, b) {
			t.Fatalf("Parse(Bytes(%q)) = %q", b, back)
		}
		if s := String(string(b)); s != out {
			t.Fatalf("String(%q) = %q, Bytes gives %q", b, s, out)
		}
		doubled := strings.ReplaceAll(string(b), `\`, `\\`)
		if Safe(string(b)) != (out == doubled) {
			t.Fatalf("Safe(%q) = %v but Bytes gives %q", b, Safe(string(b)), out)
		}
	})
}

// FuzzParse checks that whatever Parse accepts comes back from Bytes and
// Parse unchanged, and that escaped text is a fixed point of Bytes∘Parse.
func FuzzParse(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
		f.Add(Bytes([]byte(s)))
	}
	f.Add(`\x4g\u12\ud800\U00110000\q\`)
	f.Fuzz(func(t *testing.T, s string) {
		b, err := Parse(s)
		if err != nil {
			return
		}
		esc := Bytes(b)
		again, err := Parse(esc)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("Parse(Bytes(%q)) = %q, %v", b, again, err)
		}
		if Safe(s) && !bytes.Contains([]byte(s), []byte(`\`)) && esc != s {
			t.Fatalf("safe %q escaped to %q", s, esc)
		}
	})
}

// FuzzJSON checks that JSON output is valid JSON with the same value, and
// holds no DEL, C1 control or bidi rune.
func FuzzJSON(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc, err := json.MarshalIndent([]string{s, "x"}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		out := JSON(enc)
		if !json.Valid(out) {
			t.Fatalf("JSON(%s) = %s: not valid", enc, out)
		}
		var want, got []string
		if err := json.Unmarshal(enc, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0] != want[0] {
			t.Fatalf("JSON changed %q to %q", want, got)
		}
		for i, r := range string(out) {
			if r == 0x7f || (r >= utf8.RuneSelf && mustEscape(r)) {
				t.Fatalf("raw %U at offset %d in %s", r, i, out)
			}
		}
	})
}
