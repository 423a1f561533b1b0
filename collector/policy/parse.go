// Package policy holds the collector's declared expectations: a YAML
// policy of rules, each applying to the hosts whose labels match its
// selector, that say what those hosts must have. A host that violates a
// rule has an expectation drift item naming it (see drift.Evaluator).
package policy

import (
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// Bounds of a policy: its YAML text, its rule count, a rule name.
const (
	MaxBytes    = 1 << 20
	MaxRules    = 5000
	MaxNameLen  = 128
	maxValueLen = 4096
)

// Policy is a parsed policy: its rules, in the order written.
type Policy struct {
	Rules []*Rule
}

// Rule is one declared expectation.
type Rule struct {
	Name string
	// Line is where the rule starts in the YAML.
	Line int
	// Selector: labels a host must all have, with these values; empty
	// selects every host.
	Selector map[string]string

	// Kind and Key name what the rule is about: a package name, a sysctl
	// name, "release" for the kernel, a file path.
	Kind plumbv1.FactKind
	Key  string

	// Versions (package): every constraint must hold.
	Versions []Constraint
	// Value (sysctl): the wanted value, compared after trimming space.
	Value string
	// Prefix (kernel): the release must start with it.
	Prefix string
	// File: Exists (nil: must exist when any other attribute is given),
	// and the attributes given.
	Exists *bool
	SHA256 []byte
	Mode   *uint32
	UID    *uint32
	GID    *uint32
}

// Constraint is one comparison of a package version: Op is one of
// = != < <= > >=.
type Constraint struct {
	Op      string
	Version string
}

func (c Constraint) String() string { return c.Op + " " + c.Version }

// Wants is the rule's expectation as text, for details.
func (r *Rule) Wants() string {
	switch r.Kind {
	case plumbv1.FactKind_FACT_KIND_PACKAGE:
		parts := make([]string, len(r.Versions))
		for i, c := range r.Versions {
			parts[i] = c.String()
		}
		return strings.Join(parts, ", ")
	case plumbv1.FactKind_FACT_KIND_SYSCTL:
		return r.Value
	case plumbv1.FactKind_FACT_KIND_KERNEL:
		return "a release starting " + r.Prefix
	}
	return ""
}

// ruleYAML is a rule as written. Exactly one of package, sysctl,
// kernel_release_prefix and file is given.
type ruleYAML struct {
	Name     string  `yaml:"name"`
	Selector string  `yaml:"selector"`
	Package  string  `yaml:"package"`
	Version  string  `yaml:"version"`
	Sysctl   string  `yaml:"sysctl"`
	Value    *string `yaml:"value"`
	Kernel   string  `yaml:"kernel_release_prefix"`
	File     string  `yaml:"file"`
	Exists   *bool   `yaml:"exists"`
	SHA256   string  `yaml:"sha256"`
	Mode     string  `yaml:"mode"`
	UID      *uint32 `yaml:"uid"`
	GID      *uint32 `yaml:"gid"`
}

var ruleFields = map[string]bool{
	"name": true, "selector": true, "package": true, "version": true, "sysctl": true, "value": true,
	"kernel_release_prefix": true, "file": true, "exists": true, "sha256": true, "mode": true, "uid": true, "gid": true,
}

// ParseError is a policy that does not parse, with the line it fails on
// (0 when unknown).
type ParseError struct {
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("policy line %d: %s", e.Line, e.Msg)
	}
	return "policy: " + e.Msg
}

func errAt(n *yaml.Node, format string, args ...any) error {
	return &ParseError{Line: n.Line, Msg: fmt.Sprintf(format, args...)}
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Parse reads a policy. Errors are *ParseError, naming the line.
func Parse(text []byte) (*Policy, error) {
	if len(text) > MaxBytes {
		return nil, &ParseError{Msg: fmt.Sprintf("%d bytes, at most %d", len(text), MaxBytes)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return nil, yamlError(err)
	}
	p := &Policy{}
	if len(doc.Content) == 0 {
		return nil, &ParseError{Msg: "empty: want a mapping with rules"}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, errAt(root, "want a mapping with rules")
	}
	var rules *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch k := root.Content[i]; k.Value {
		case "rules":
			rules = root.Content[i+1]
		default:
			return nil, errAt(k, "unknown field %q (want rules)", k.Value)
		}
	}
	if rules == nil {
		return nil, errAt(root, "no rules")
	}
	if rules.Kind != yaml.SequenceNode {
		return nil, errAt(rules, "rules: want a list")
	}
	if len(rules.Content) > MaxRules {
		return nil, errAt(rules, "%d rules, at most %d", len(rules.Content), MaxRules)
	}
	seen := map[string]int{}
	for _, n := range rules.Content {
		r, err := parseRule(n)
		if err != nil {
			return nil, err
		}
		if line, dup := seen[r.Name]; dup {
			return nil, errAt(n, "rule %q is already defined on line %d", r.Name, line)
		}
		seen[r.Name] = r.Line
		p.Rules = append(p.Rules, r)
	}
	return p, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pe := &ParseError{Msg: msg}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		pe.Line, _ = strconv.Atoi(m[1])
	}
	return pe
}

func parseRule(n *yaml.Node) (*Rule, error) {
	if n.Kind != yaml.MappingNode {
		return nil, errAt(n, "a rule must be a mapping")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !ruleFields[k.Value] {
			return nil, errAt(k, "unknown rule field %q", k.Value)
		}
	}
	var y ruleYAML
	if err := n.Decode(&y); err != nil {
		return nil, yamlError(err)
	}
	r := &Rule{Name: y.Name, Line: n.Line}
	switch {
	case y.Name == "":
		return nil, errAt(n, "rule without a name")
	case len(y.Name) > MaxNameLen || !namePattern.MatchString(y.Name):
		return nil, errAt(n, "rule name %q: want letters, digits, '.', '_', '-' (at most %d bytes)", y.Name, MaxNameLen)
	}
	sel, err := ParseSelector(y.Selector)
	if err != nil {
		return nil, errAt(n, "rule %s: %v", y.Name, err)
	}
	r.Selector = sel
	given := 0
	for _, s := range []string{y.Package, y.Sysctl, y.Kernel, y.File} {
		if s != "" {
			given++
		}
	}
	if given != 1 {
		return nil, errAt(n, "rule %s: want exactly one of package, sysctl, kernel_release_prefix, file", y.Name)
	}
	for _, s := range []string{y.Package, y.Sysctl, y.Kernel, y.File, y.Version, y.SHA256, y.Mode} {
		if len(s) > maxValueLen {
			return nil, errAt(n, "rule %s: a value of %d bytes, at most %d", y.Name, len(s), maxValueLen)
		}
	}
	fileOnly := y.Exists != nil || y.SHA256 != "" || y.Mode != "" || y.UID != nil || y.GID != nil
	switch {
	case y.Package != "":
		if y.Value != nil || fileOnly {
			return nil, errAt(n, "rule %s: a package rule takes version only", y.Name)
		}
		r.Kind, r.Key = plumbv1.FactKind_FACT_KIND_PACKAGE, y.Package
		if r.Versions, err = ParseConstraints(y.Version); err != nil {
			return nil, errAt(n, "rule %s: version: %v", y.Name, err)
		}
	case y.Sysctl != "":
		if y.Value == nil || y.Version != "" || fileOnly {
			return nil, errAt(n, "rule %s: a sysctl rule takes value only (and needs it)", y.Name)
		}
		r.Kind, r.Key, r.Value = plumbv1.FactKind_FACT_KIND_SYSCTL, y.Sysctl, strings.TrimSpace(*y.Value)
	case y.Kernel != "":
		if y.Value != nil || y.Version != "" || fileOnly {
			return nil, errAt(n, "rule %s: a kernel_release_prefix rule takes nothing else", y.Name)
		}
		r.Kind, r.Key, r.Prefix = plumbv1.FactKind_FACT_KIND_KERNEL, "release", y.Kernel
	default:
		if y.Value != nil || y.Version != "" {
			return nil, errAt(n, "rule %s: a file rule takes exists, sha256, mode, uid, gid", y.Name)
		}
		if !strings.HasPrefix(y.File, "/") {
			return nil, errAt(n, "rule %s: file %q: want an absolute path", y.Name, y.File)
		}
		r.Kind, r.Key = plumbv1.FactKind_FACT_KIND_FILE, y.File
		if err := fileRule(r, &y); err != nil {
			return nil, errAt(n, "rule %s: %v", y.Name, err)
		}
	}
	return r, nil
}

func fileRule(r *Rule, y *ruleYAML) error {
	attrs := y.SHA256 != "" || y.Mode != "" || y.UID != nil || y.GID != nil
	switch {
	case y.Exists == nil && !attrs:
		return errors.New("a file rule needs exists, sha256, mode, uid or gid")
	case y.Exists != nil && !*y.Exists && attrs:
		return errors.New("a file that must not exist has no attributes to check")
	}
	r.Exists = y.Exists
	if y.SHA256 != "" {
		d, err := hex.DecodeString(strings.ToLower(y.SHA256))
		if err != nil || len(d) != 32 {
			return fmt.Errorf("sha256 %q: want 64 hex digits", y.SHA256)
		}
		r.SHA256 = d
	}
	if y.Mode != "" {
		m, err := strconv.ParseUint(y.Mode, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("mode %q: want octal permission bits such as \"0644\"", y.Mode)
		}
		mode := uint32(m)
		r.Mode = &mode
	}
	r.UID, r.GID = y.UID, y.GID
	return nil
}

// ParseSelector reads "group=web,env=prod" (every label must equal); ""
// selects every host.
func ParseSelector(s string) (map[string]string, error) {
	sel := map[string]string{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("selector %q: want label=value[,label=value]", s)
		}
		sel[k] = v
	}
	return sel, nil
}

var constraintOps = []string{">=", "<=", "!=", "==", ">", "<", "="}

// ParseConstraints reads "1.24.0-1" (exactly), "= 1.24", ">= 1.24, < 1.26".
func ParseConstraints(s string) ([]Constraint, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("missing: want a version or a range such as \">= 1.24, < 1.26\"")
	}
	var out []Constraint
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		op := "="
		for _, o := range constraintOps {
			if strings.HasPrefix(part, o) {
				op, part = o, strings.TrimSpace(part[len(o):])
				break
			}
		}
		if op == "==" {
			op = "="
		}
		if part == "" || strings.ContainsAny(part, " \t<>=!") {
			return nil, fmt.Errorf("%q: want OP VERSION with OP one of = != < <= > >=", s)
		}
		out = append(out, Constraint{Op: op, Version: part})
	}
	return out, nil
}
