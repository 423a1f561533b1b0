package rpm

import (
	"encoding/hex"
	"log/slog"
	"sort"
	"strings"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source/pkgfact"
	"github.com/plumb-dev/plumb/agent/source/snapshot"
	"github.com/plumb-dev/plumb/pkg/fact"
)

const manager = "rpm"

// packageKey returns p's fact key and the version its fact shows (see the
// package doc for gpg-pubkey).
func packageKey(p Package) (key, version string) {
	if p.Name == "gpg-pubkey" {
		v := p.Version + "-" + p.Release
		return p.Name + "-" + v, v
	}
	if p.Arch == "" {
		return p.Name, p.EVR
	}
	return p.Name + "." + p.Arch, p.EVR
}

// packageFacts returns one fact per package key.
func packageFacts(pkgs []Package, now int64) snapshot.Facts {
	type entry struct {
		arch     string
		versions []string
	}
	byKey := map[string]*entry{}
	for _, p := range pkgs {
		k, v := packageKey(p)
		e := byKey[k]
		if e == nil {
			e = &entry{arch: p.Arch}
			if p.Name == "gpg-pubkey" {
				e.arch = ""
			}
			byKey[k] = e
		}
		e.versions = append(e.versions, v)
	}
	out := snapshot.Facts{}
	for k, e := range byKey {
		sort.Strings(e.versions)
		out.Add(pkgfact.Package(k, &plumbv1.PackageAttrs{
			Version: strings.Join(e.versions, ", "),
			Arch:    e.arch,
			Manager: manager,
		}, now))
	}
	return out
}

// conffileFacts returns one fact per %config file, with its file under
// root hashed now. When several packages list one path (multilib pairs
// such as foo.i686 and foo.x86_64 share their config), the package whose
// key sorts first owns it, so the choice is stable.
func conffileFacts(log *slog.Logger, root string, pkgs []Package, now int64) snapshot.Facts {
	sorted := make([]Package, 0, len(pkgs))
	for _, p := range pkgs {
		if len(p.Conffiles) > 0 {
			sorted = append(sorted, p)
		}
	}
	sort.Slice(sorted, func(i, j int) bool {
		ki, _ := packageKey(sorted[i])
		kj, _ := packageKey(sorted[j])
		if ki != kj {
			return ki < kj
		}
		return sorted[i].EVR < sorted[j].EVR
	})
	out := snapshot.Facts{}
	for _, p := range sorted {
		pk, _ := packageKey(p)
		for _, c := range p.Conffiles {
			if _, dup := out[fact.Key{Kind: plumbv1.FactKind_FACT_KIND_CONFFILE, ID: c.Path}]; dup {
				continue
			}
			want, err := hex.DecodeString(c.Digest)
			var f *plumbv1.Fact
			ok := err == nil
			if ok {
				f, ok = pkgfact.Conffile(log, root, pkgfact.Recorded{
					Path: c.Path, Package: pk, Manager: manager, Algorithm: c.Algorithm, Digest: want,
				}, now)
			}
			if !ok {
				log.Debug("rpm conffile digest not checkable", "path", c.Path, "algorithm", c.Algorithm)
				continue
			}
			out.Add(f)
		}
	}
	return out
}
