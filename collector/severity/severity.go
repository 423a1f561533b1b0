// Package severity decides how urgent a drift item is, by rules on its
// fact's kind and key: the operator's rules first, then the shipped
// defaults, the first match winning.
package severity

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// Rule gives facts of Kind (unspecified: any kind) whose key matches the
// doublestar glob Key a severity.
type Rule struct {
	Kind     plumbv1.FactKind
	Key      string
	Severity plumbv1.Severity
}

// Config is one rule as the collector's YAML writes it:
// {kind: file, key: "/etc/ssh/**", severity: critical}.
type Config struct {
	Kind     string `koanf:"kind"`
	Key      string `koanf:"key"`
	Severity string `koanf:"severity"`
}

// Defaults are the shipped rules: what lets someone in, or changes what
// the kernel runs, is critical; a package version is a warning; the rest
// is info. Health items (gaps in what the collector knows of a host) are
// warnings, except a quarantined identity, which is critical.
var Defaults = []Rule{
	{plumbv1.FactKind_FACT_KIND_FILE, "/etc/sudoers", plumbv1.Severity_SEVERITY_CRITICAL},
	{plumbv1.FactKind_FACT_KIND_FILE, "/etc/sudoers.d/**", plumbv1.Severity_SEVERITY_CRITICAL},
	{plumbv1.FactKind_FACT_KIND_FILE, "/etc/ssh/**", plumbv1.Severity_SEVERITY_CRITICAL},
	{plumbv1.FactKind_FACT_KIND_FILE, "/etc/passwd", plumbv1.Severity_SEVERITY_CRITICAL},
	{plumbv1.FactKind_FACT_KIND_FILE, "/etc/shadow", plumbv1.Severity_SEVERITY_CRITICAL},
	{plumbv1.FactKind_FACT_KIND_FILE, "/etc/group", plumbv1.Severity_SEVERITY_CRITICAL},
	{plumbv1.FactKind_FACT_KIND_FILE, "/etc/gshadow", plumbv1.Severity_SEVERITY_CRITICAL},
	{plumbv1.FactKind_FACT_KIND_FILE, "/etc/pam.d/**", plumbv1.Severity_SEVERITY_CRITICAL},
	{plumbv1.FactKind_FACT_KIND_FILE, "/etc/ld.so.preload", plumbv1.Severity_SEVERITY_CRITICAL},
	{plumbv1.FactKind_FACT_KIND_FILE, "/root/.ssh/**", plumbv1.Severity_SEVERITY_CRITICAL},
	{plumbv1.FactKind_FACT_KIND_FILE, "/etc/cron*/**", plumbv1.Severity_SEVERITY_WARNING},
	{plumbv1.FactKind_FACT_KIND_FILE, "/etc/systemd/**", plumbv1.Severity_SEVERITY_WARNING},
	{plumbv1.FactKind_FACT_KIND_KERNEL, "cmdline", plumbv1.Severity_SEVERITY_CRITICAL},
	{plumbv1.FactKind_FACT_KIND_KMOD, "**", plumbv1.Severity_SEVERITY_CRITICAL},
	{plumbv1.FactKind_FACT_KIND_KERNEL, "**", plumbv1.Severity_SEVERITY_WARNING},
	{plumbv1.FactKind_FACT_KIND_PACKAGE, "**", plumbv1.Severity_SEVERITY_WARNING},
	{plumbv1.FactKind_FACT_KIND_CONFFILE, "**", plumbv1.Severity_SEVERITY_WARNING},
	// Gaps the collector raises: another key posing as a host is an
	// attack or a clone; a host not reporting, not fully seen, or out of
	// step is a warning.
	{plumbv1.FactKind_FACT_KIND_HEALTH, "identity", plumbv1.Severity_SEVERITY_CRITICAL},
	{plumbv1.FactKind_FACT_KIND_HEALTH, "**", plumbv1.Severity_SEVERITY_WARNING},
	// A host that breaks a declared expectation (a policy rule).
	{plumbv1.FactKind_FACT_KIND_EXPECTATION, "**", plumbv1.Severity_SEVERITY_WARNING},
}

// Rules classify drift items.
type Rules struct {
	rules []Rule
}

// New returns the rules custom, then Defaults.
func New(custom []Rule) *Rules {
	return &Rules{rules: append(append([]Rule(nil), custom...), Defaults...)}
}

// Parse turns configured rules into Rules, naming the first bad one.
func Parse(cfg []Config) (*Rules, error) {
	var custom []Rule
	var errs []error
	for i, c := range cfg {
		r, err := c.rule()
		if err != nil {
			errs = append(errs, fmt.Errorf("severity[%d]: %w", i, err))
			continue
		}
		custom = append(custom, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return New(custom), nil
}

func (c Config) rule() (Rule, error) {
	var r Rule
	if c.Kind != "" && c.Kind != "any" {
		k, err := fact.ParseKind(c.Kind)
		if err != nil {
			return r, err
		}
		r.Kind = k
	}
	if c.Key == "" {
		return r, errors.New("key: required (a doublestar glob; ** matches every key)")
	}
	if !doublestar.ValidatePattern(c.Key) {
		return r, fmt.Errorf("key %q: not a valid glob", c.Key)
	}
	r.Key = c.Key
	s, err := ParseLevel(c.Severity)
	if err != nil {
		return r, err
	}
	r.Severity = s
	return r, nil
}

// ParseLevel reads "info", "warning" or "critical".
func ParseLevel(s string) (plumbv1.Severity, error) {
	v, ok := plumbv1.Severity_value["SEVERITY_"+strings.ToUpper(strings.TrimSpace(s))]
	if !ok || v == 0 {
		return 0, fmt.Errorf("severity %q: want info, warning or critical", s)
	}
	return plumbv1.Severity(v), nil
}

// Name is the lower-case name of a severity ("" when unspecified).
func Name(s plumbv1.Severity) string {
	if s == plumbv1.Severity_SEVERITY_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "SEVERITY_"))
}

// Of returns the severity of a fact of kind with key: the first matching
// rule's, else info.
func (r *Rules) Of(kind plumbv1.FactKind, key []byte) plumbv1.Severity {
	if r == nil {
		r = defaultRules
	}
	for _, rule := range r.rules {
		if rule.Kind != plumbv1.FactKind_FACT_KIND_UNSPECIFIED && rule.Kind != kind {
			continue
		}
		if ok, _ := doublestar.Match(rule.Key, string(key)); ok {
			return rule.Severity
		}
	}
	return plumbv1.Severity_SEVERITY_INFO
}

var defaultRules = New(nil)
