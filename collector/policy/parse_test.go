package policy

import (
	"strconv"
	"strings"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

const example = `rules:
  - name: web-nginx
    selector: group=web, env=prod
    package: nginx
    version: ">= 1.24, < 1.26"
  - name: no-forwarding
    sysctl: net.ipv4.ip_forward
    value: "0"
  - name: kernel-6
    kernel_release_prefix: "6."
  - name: sshd-config
    file: /etc/ssh/sshd_config
    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    mode: "0600"
    uid: 0
    gid: 0
  - name: no-telnet
    file: /etc/inetd.conf
    exists: false
`

func TestParseExample(t *testing.T) {
	p, err := Parse([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != 5 {
		t.Fatalf("%d rules, want 5", len(p.Rules))
	}
	web := p.Rules[0]
	if web.Kind != plumbv1.FactKind_FACT_KIND_PACKAGE || web.Key != "nginx" || web.Line != 2 ||
		web.Selector["group"] != "web" || web.Selector["env"] != "prod" || web.Wants() != ">= 1.24, < 1.26" {
		t.Errorf("web-nginx = %+v", web)
	}
	if r := p.Rules[1]; r.Kind != plumbv1.FactKind_FACT_KIND_SYSCTL || r.Value != "0" || len(r.Selector) != 0 {
		t.Errorf("no-forwarding = %+v", r)
	}
	if r := p.Rules[3]; r.Mode == nil || *r.Mode != 0o600 || r.UID == nil || *r.UID != 0 || len(r.SHA256) != 32 {
		t.Errorf("sshd-config = %+v", r)
	}
	if r := p.Rules[4]; r.Exists == nil || *r.Exists {
		t.Errorf("no-telnet = %+v", r)
	}
}

// TestParseErrors: every bad policy is refused, naming its line.
func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		yaml string
		line int
		want string
	}{
		{"rules:\n  - name: a\n    package: x\n    version: '>= 1'\n  - name: a\n    sysctl: y\n    value: 1\n", 5, "already defined on line 2"},
		{"rules:\n  - name: a\n    package: x\n", 2, "version: missing"},
		{"rules:\n  - name: a\n    package: x\n    version: '>> 1'\n", 2, "OP VERSION"},
		{"rules:\n  - name: a\n    pakage: x\n", 3, `unknown rule field "pakage"`},
		{"rules:\n  - name: a\n    sysctl: x\n", 2, "needs it"},
		{"rules:\n  - name: a\n    file: etc/x\n    exists: true\n", 2, "absolute path"},
		{"rules:\n  - name: a\n    file: /x\n", 2, "needs exists"},
		{"rules:\n  - name: a\n    file: /x\n    exists: false\n    mode: '0644'\n", 2, "no attributes"},
		{"rules:\n  - name: a\n    file: /x\n    mode: '999'\n", 2, "octal"},
		{"rules:\n  - name: a\n    file: /x\n    sha256: abc\n", 2, "64 hex"},
		{"rules:\n  - name: a\n    package: x\n    sysctl: y\n    version: '1'\n", 2, "exactly one"},
		{"rules:\n  - package: x\n    version: '1'\n", 2, "without a name"},
		{"rules:\n  - name: 'a b'\n    package: x\n    version: '1'\n", 2, "rule name"},
		{"rules:\n  - name: a\n    selector: group\n    package: x\n    version: '1'\n", 2, "label=value"},
		{"rules:\n  - name: a\n    package: x\n   version: '1'\n", -1, "expected"},
		{"rule: []\n", 1, `unknown field "rule"`},
		{"rules: {}\n", 1, "want a list"},
		{"rules:\n  - name: a\n    file: /x\n    uid: -1\n", 4, ""},
	} {
		_, err := Parse([]byte(c.yaml))
		pe, ok := err.(*ParseError)
		if !ok {
			t.Errorf("%q: error %v, want a *ParseError", c.yaml, err)
			continue
		}
		// -1: the YAML parser's own line, whichever it names.
		if (c.line >= 0 && pe.Line != c.line) || (c.line < 0 && pe.Line <= 0) || !strings.Contains(pe.Msg, c.want) {
			t.Errorf("%q: line %d %q, want line %d containing %q", c.yaml, pe.Line, pe.Msg, c.line, c.want)
		}
	}
}

func TestParseBounds(t *testing.T) {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range MaxRules + 1 {
		b.WriteString("  - {name: r")
		b.WriteString(strconv.Itoa(i))
		b.WriteString(", sysctl: a, value: '1'}\n")
	}
	if _, err := Parse([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "at most 5000") {
		t.Errorf("%d rules: %v", MaxRules+1, err)
	}
	if _, err := Parse(make([]byte, MaxBytes+1)); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("%d bytes: %v", MaxBytes+1, err)
	}
}
