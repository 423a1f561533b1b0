package dpkg

import (
	"encoding/hex"
	"log/slog"
	"sort"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source/pkgfact"
	"github.com/plumb-dev/plumb/agent/source/snapshot"
	"github.com/plumb-dev/plumb/pkg/fact"
)

const manager = "dpkg"

// packageFacts returns one fact per installed package.
func packageFacts(pkgs []Package, now int64) snapshot.Facts {
	out := snapshot.Facts{}
	for _, p := range pkgs {
		if !p.Installed() {
			continue
		}
		out.Add(pkgfact.Package(p.Key(), &plumbv1.PackageAttrs{Version: p.Version, Arch: p.Arch, Manager: manager}, now))
	}
	return out
}

// conffileFacts returns one fact per tracked conffile of an installed
// package, with its file under root hashed now. When two packages list one
// path (Multi-Arch: same instances share conffiles), the package whose key
// sorts first owns it, so the choice is stable.
func conffileFacts(log *slog.Logger, root string, pkgs []Package, now int64) snapshot.Facts {
	sorted := make([]Package, 0, len(pkgs))
	for _, p := range pkgs {
		if p.Installed() && len(p.Conffiles) > 0 {
			sorted = append(sorted, p)
		}
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Key() < sorted[j].Key() })
	out := snapshot.Facts{}
	for _, p := range sorted {
		for _, c := range p.Conffiles {
			if !c.Tracked() {
				continue
			}
			if _, dup := out[fact.Key{Kind: plumbv1.FactKind_FACT_KIND_CONFFILE, ID: c.Path}]; dup {
				continue
			}
			want, _ := hex.DecodeString(c.MD5) // Tracked: valid hex
			f, _ := pkgfact.Conffile(log, root, pkgfact.Recorded{
				Path: c.Path, Package: p.Key(), Manager: manager, Algorithm: "md5", Digest: want,
			}, now)
			out.Add(f)
		}
	}
	return out
}
