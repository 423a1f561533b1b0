// Package golden holds what decides which facts a group's golden baseline
// covers: the selections promoted into it and the exclusions of facts
// that legitimately differ from host to host.
package golden

import (
	"errors"
	"fmt"

	"github.com/bmatcuk/doublestar/v4"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// GroupLabel is the host label whose value names its group.
const GroupLabel = "group"

// Rule matches facts of Kind (unspecified: any kind) whose key, in display
// form, matches the doublestar glob Key.
type Rule struct {
	Kind plumbv1.FactKind
	Key  string
}

func (r Rule) match(k fact.Key) bool {
	if r.Kind != plumbv1.FactKind_FACT_KIND_UNSPECIFIED && r.Kind != k.Kind {
		return false
	}
	ok, _ := doublestar.Match(r.Key, fact.Display([]byte(k.ID)))
	return ok
}

// DefaultExclusions are facts that differ on every host by design, so that
// holding a group to one value would raise drift on all members but the
// golden one:
//   - the host's name (/etc/hostname; /etc/hosts and /etc/mailname, which
//     Debian-family installers write with the host's own name);
//   - its identity: the machine id (systemd's and D-Bus's copies), SSH host
//     keys, a Kerberos keytab;
//   - per-host state files that merely live under /etc or /var:
//     /etc/adjtime (the RTC's measured drift) and systemd's random seed.
//
// The kernel command line is not excluded: it often names the root
// filesystem by UUID, but a group is usually meant to boot alike, and a
// fleet whose roots differ adds {kind: kernel, key: cmdline} to its
// exclusions.
var DefaultExclusions = []Rule{
	{plumbv1.FactKind_FACT_KIND_FILE, "/etc/hostname"},
	{plumbv1.FactKind_FACT_KIND_FILE, "/etc/hosts"},
	{plumbv1.FactKind_FACT_KIND_FILE, "/etc/mailname"},
	{plumbv1.FactKind_FACT_KIND_FILE, "/etc/machine-id"},
	{plumbv1.FactKind_FACT_KIND_FILE, "/var/lib/dbus/machine-id"},
	{plumbv1.FactKind_FACT_KIND_FILE, "/etc/ssh/ssh_host_*"},
	{plumbv1.FactKind_FACT_KIND_FILE, "/etc/krb5.keytab"},
	{plumbv1.FactKind_FACT_KIND_FILE, "/etc/adjtime"},
	{plumbv1.FactKind_FACT_KIND_FILE, "/var/lib/systemd/random-seed"},
}

// Exclusions are the facts no group baseline covers. The nil value is
// DefaultExclusions.
type Exclusions struct {
	rules []Rule
}

// NewExclusions returns custom plus, unless noDefaults, DefaultExclusions.
func NewExclusions(custom []Rule, noDefaults bool) *Exclusions {
	rules := append([]Rule(nil), custom...)
	if !noDefaults {
		rules = append(rules, DefaultExclusions...)
	}
	return &Exclusions{rules: rules}
}

var defaultExclusions = NewExclusions(nil, false)

// Excludes reports whether k is never held to a group baseline. Health
// facts are the collector's own and never are.
func (x *Exclusions) Excludes(k fact.Key) bool {
	if k.Kind == plumbv1.FactKind_FACT_KIND_HEALTH {
		return true
	}
	if x == nil {
		x = defaultExclusions
	}
	for _, r := range x.rules {
		if r.match(k) {
			return true
		}
	}
	return false
}

// Rules returns the rules in force, for display.
func (x *Exclusions) Rules() []Rule {
	if x == nil {
		x = defaultExclusions
	}
	return append([]Rule(nil), x.rules...)
}

// Config is the collector YAML's group_baseline section:
//
//	group_baseline:
//	  exclude: [{kind: file, key: "/etc/motd"}]
//	  no_default_excludes: false
type Config struct {
	Exclude           []RuleConfig `koanf:"exclude"`
	NoDefaultExcludes bool         `koanf:"no_default_excludes"`
}

// RuleConfig is one exclusion as YAML writes it; kind "" or "any" is any.
type RuleConfig struct {
	Kind string `koanf:"kind"`
	Key  string `koanf:"key"`
}

// Parse checks c and returns its exclusions, naming every bad rule.
func (c Config) Parse() (*Exclusions, error) {
	var rules []Rule
	var errs []error
	for i, rc := range c.Exclude {
		var r Rule
		if rc.Kind != "" && rc.Kind != "any" {
			k, err := fact.ParseKind(rc.Kind)
			if err != nil {
				errs = append(errs, fmt.Errorf("group_baseline.exclude[%d]: %w", i, err))
				continue
			}
			r.Kind = k
		}
		switch {
		case rc.Key == "":
			errs = append(errs, fmt.Errorf("group_baseline.exclude[%d]: key: required (a doublestar glob)", i))
			continue
		case !doublestar.ValidatePattern(rc.Key):
			errs = append(errs, fmt.Errorf("group_baseline.exclude[%d]: key %q: not a valid glob", i, rc.Key))
			continue
		}
		r.Key = rc.Key
		rules = append(rules, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return NewExclusions(rules, c.NoDefaultExcludes), nil
}

// Matches reports whether selection s takes in k.
func Matches(s store.Selection, k fact.Key) bool {
	if s.Kind != 0 && plumbv1.FactKind(s.Kind) != k.Kind {
		return false
	}
	if s.Key == "" {
		return true
	}
	ok, _ := doublestar.Match(s.Key, fact.Display([]byte(k.ID)))
	return ok
}

// Covers reports whether g's baseline holds members to it for k: some
// selection takes k in and x does not exclude it.
func Covers(g *store.GroupBaseline, x *Exclusions, k fact.Key) bool {
	if g == nil || x.Excludes(k) {
		return false
	}
	for _, s := range g.Selections {
		if Matches(s, k) {
			return true
		}
	}
	return false
}
