package fleet

import (
	"github.com/bmatcuk/doublestar/v4"

	"github.com/plumb-dev/plumb/collector/golden"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// DefaultExclude lists the fact keys that legitimately differ from host
// to host, as doublestar globs on the key as plumbctl prints it (with
// --host-root, keys are paths inside the host root, so these still
// match). Outliers leaves them out unless asked not to. They are the keys
// of the group baselines' shipped exclusions (golden.DefaultExclusions):
// one fleet-wide list of per-host facts.
var DefaultExclude = defaultExclude()

func defaultExclude() []string {
	out := make([]string, 0, len(golden.DefaultExclusions))
	for _, r := range golden.DefaultExclusions {
		out = append(out, r.Key)
	}
	return out
}

// Exclusion is a set of key globs; a key matching any is left out.
type Exclusion []string

// Excludes reports whether k matches one of e's globs.
func (e Exclusion) Excludes(k fact.Key) bool {
	if len(e) == 0 {
		return false
	}
	s := fact.Display([]byte(k.ID))
	for _, g := range e {
		if ok, _ := doublestar.Match(g, s); ok {
			return true
		}
	}
	return false
}
