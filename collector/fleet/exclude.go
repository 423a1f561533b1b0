package fleet

import (
	"github.com/bmatcuk/doublestar/v4"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// DefaultExclude lists the fact keys that legitimately differ from host
// to host, as doublestar globs on the key as plumbctl prints it (with
// --host-root, keys are paths inside the host root, so these still
// match). Outliers leaves them out unless asked not to. Keep it short and
// in this one place: it is the fleet-wide list of per-host facts.
var DefaultExclude = []string{
	"/etc/hostname",
	"/etc/machine-id",
	"/var/lib/dbus/machine-id",
	"/etc/ssh/ssh_host_*",
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
