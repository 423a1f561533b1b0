package silence

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// Bounds on what one silence or window may say.
const (
	MaxHosts     = 32   // host globs
	MaxLabels    = 32   // label pairs
	MaxPattern   = 256  // bytes of one glob, label name or label value
	MaxKeyGlob   = 4096 // bytes of the key glob (paths are long)
	MaxReason    = 1024 // bytes of a reason
	MinReasonLen = 1
)

// Matcher says which drift a silence or window holds back: every
// condition given must hold, and at least one of Hosts and Labels is
// given, so that no silence holds back everything by accident (a host
// glob "*" says so on purpose).
type Matcher struct {
	// Hosts are doublestar globs on the host id; any may match.
	Hosts []string
	// Labels must all equal the host's labels.
	Labels map[string]string
	// Kind narrows it to one kind of fact (FACT_KIND_UNSPECIFIED: any).
	Kind plumbv1.FactKind
	// Key is a doublestar glob on the fact key ("": any).
	Key string
}

// Validate checks m's bounds and globs, reporting every problem.
func (m Matcher) Validate() error {
	var errs []error
	if len(m.Hosts) == 0 && len(m.Labels) == 0 {
		errs = append(errs, errors.New("name hosts (a host id or glob) or labels (k=v): a silence needs at least one"))
	}
	if len(m.Hosts) > MaxHosts {
		errs = append(errs, fmt.Errorf("%d host globs: at most %d", len(m.Hosts), MaxHosts))
	}
	if len(m.Labels) > MaxLabels {
		errs = append(errs, fmt.Errorf("%d labels: at most %d", len(m.Labels), MaxLabels))
	}
	for _, h := range m.Hosts {
		if err := checkPattern("host glob", h, MaxPattern, true); err != nil {
			errs = append(errs, err)
		}
	}
	for k, v := range m.Labels {
		if err := checkPattern("label name", k, MaxPattern, false); err != nil {
			errs = append(errs, err)
		}
		if len(v) > MaxPattern || !utf8.ValidString(v) {
			errs = append(errs, fmt.Errorf("label %q: value longer than %d bytes or not UTF-8", k, MaxPattern))
		}
	}
	if _, ok := plumbv1.FactKind_name[int32(m.Kind)]; !ok {
		errs = append(errs, fmt.Errorf("kind %d: unknown", m.Kind))
	}
	if m.Key != "" {
		if err := checkPattern("key glob", m.Key, MaxKeyGlob, true); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkPattern(what, s string, limit int, glob bool) error {
	switch {
	case s == "":
		return fmt.Errorf("%s: empty", what)
	case len(s) > limit:
		return fmt.Errorf("%s: longer than %d bytes", what, limit)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s %q: not UTF-8", what, s)
	case glob && !doublestar.ValidatePattern(s):
		return fmt.Errorf("%s %q: not a valid glob", what, s)
	}
	return nil
}

// needsLabels reports whether matching needs the host's labels.
func (m Matcher) needsLabels() bool { return len(m.Labels) > 0 }

// Match reports whether drift of (kind, key) on host, whose labels are
// labels, is held back by m.
func (m Matcher) Match(host string, labels map[string]string, kind plumbv1.FactKind, key []byte) bool {
	if len(m.Hosts) > 0 && !matchAny(m.Hosts, host) {
		return false
	}
	for k, v := range m.Labels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	if m.Kind != plumbv1.FactKind_FACT_KIND_UNSPECIFIED && m.Kind != kind {
		return false
	}
	if m.Key != "" {
		if ok, _ := doublestar.Match(m.Key, string(key)); !ok {
			return false
		}
	}
	return true
}

func matchAny(globs []string, s string) bool {
	for _, g := range globs {
		if ok, _ := doublestar.Match(g, s); ok {
			return true
		}
	}
	return false
}

// String is m for logs: `hosts=web-*,db-1 labels=env=prod kind=file key=/etc/**`.
func (m Matcher) String() string {
	var parts []string
	if len(m.Hosts) > 0 {
		parts = append(parts, "hosts="+strings.Join(m.Hosts, ","))
	}
	if len(m.Labels) > 0 {
		var ls []string
		for _, k := range sortedKeys(m.Labels) {
			ls = append(ls, k+"="+m.Labels[k])
		}
		parts = append(parts, "labels="+strings.Join(ls, ","))
	}
	if m.Kind != plumbv1.FactKind_FACT_KIND_UNSPECIFIED {
		parts = append(parts, "kind="+strings.ToLower(strings.TrimPrefix(m.Kind.String(), "FACT_KIND_")))
	}
	if m.Key != "" {
		parts = append(parts, "key="+m.Key)
	}
	return strings.Join(parts, " ")
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
