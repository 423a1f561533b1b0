package contentdiff

import (
	"regexp"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"
)

// Marker stands in for a redacted value.
const Marker = "<redacted>"

// A line looks like it carries a secret when a name that says so
// (password, secret, token, api key, private key, credential...) is
// followed by a value: "password = x", "TOKEN: x", `"api_key": "x"`,
// "export DB_PASSWORD=x", "--token=x", or at the start of a line, after
// blanks, "client_secret x". Everything after the separator is replaced.
// Values that are plainly not secrets (yes, no, true, false...) are kept,
// so that "PasswordAuthentication yes" still shows what changed. Lines
// inside a PEM private key block are replaced whole, and the password of
// a URL ("scheme://user:password@host") too. This errs on the side of
// hiding: a line that merely mentions a password may lose its tail.
var (
	secretName = `[A-Za-z0-9_.-]*(?i:pass(?:wd|word|phrase)|secret|token|api[_-]?key|apikey|private[_-]?key|credential|auth[_-]?key|access[_-]?key|psk)[A-Za-z0-9_.-]*`
	// A secret name, its closing quote, then = or :, then the value.
	assignRE = regexp.MustCompile(secretName + `["']?\s*[:=]\s*(\S.*)$`)
	// At the start of a line: a secret name, blanks, then the value.
	spacedRE = regexp.MustCompile(`^\s*["']?` + secretName + `["']?\s+([^\s=:].*)$`)
	urlRE    = regexp.MustCompile(`(://[^/\s:@]*:)([^/\s@]+)(@)`)
	pemBegin = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----`)
	pemEnd   = regexp.MustCompile(`-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----`)
)

// notSecret are values kept as they are: switches, not secrets.
var notSecret = map[string]bool{
	"yes": true, "no": true, "true": true, "false": true, "on": true, "off": true,
	"none": true, "null": true, "enabled": true, "disabled": true,
	"required": true, "optional": true, "without-password": true, "prohibit-password": true,
}

// RedactLine returns line (without its newline) with a secret value
// replaced by Marker, and whether it replaced one.
func RedactLine(line string) (string, bool) {
	out, changed := line, false
	for _, re := range []*regexp.Regexp{assignRE, spacedRE} {
		m := re.FindStringSubmatchIndex(out)
		if m == nil {
			continue
		}
		v := strings.Trim(strings.TrimRight(out[m[2]:m[3]], " \t,;"), `"'`)
		if notSecret[strings.ToLower(v)] || v == Marker {
			continue
		}
		out, changed = out[:m[2]]+Marker, true
		break
	}
	if urlRE.MatchString(out) {
		out, changed = urlRE.ReplaceAllString(out, "${1}"+Marker+"${3}"), true
	}
	return out, changed
}

// secretLines marks the lines of content (numbered from 0, as udiff
// splits them) that are inside a PEM private key block, its BEGIN and END
// lines excluded. A block without an END runs to the end.
func secretLines(content string) []bool {
	if !strings.Contains(content, "PRIVATE KEY") {
		return nil
	}
	lines := strings.SplitAfter(content, "\n")
	marks := make([]bool, len(lines))
	in := false
	for i, l := range lines {
		switch {
		case !in && pemBegin.MatchString(l):
			in = true
		case in && pemEnd.MatchString(l):
			in = false
		case in:
			marks[i] = true
		}
	}
	return marks
}

// redactHunks replaces secrets in the hunks' lines, in place: whole lines
// inside a private key block of their side (oldSecret, newSecret from
// secretLines), and secret values on any other line. It reports whether
// it replaced anything.
func redactHunks(hunks []*udiff.Hunk, oldSecret, newSecret []bool) bool {
	marked := func(m []bool, i int) bool { return i >= 0 && i < len(m) && m[i] }
	did := false
	for _, h := range hunks {
		o, n := h.FromLine-1, h.ToLine-1 // 0-based line of each side
		for i := range h.Lines {
			l := &h.Lines[i]
			var whole bool
			switch l.Kind {
			case udiff.Delete:
				whole = marked(oldSecret, o)
				o++
			case udiff.Insert:
				whole = marked(newSecret, n)
				n++
			default:
				whole = marked(oldSecret, o) || marked(newSecret, n)
				o++
				n++
			}
			body, nl := strings.CutSuffix(l.Content, "\n")
			var changed bool
			if whole {
				body, changed = Marker, true
			} else {
				body, changed = RedactLine(body)
			}
			if changed {
				did = true
				if nl {
					body += "\n"
				}
				l.Content = body
			}
		}
	}
	return did
}
