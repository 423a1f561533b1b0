package dpkg

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"sort"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

const manager = "dpkg"

// facts is one reading of a kind: sealed facts by key.
type facts map[fact.Key]*plumbv1.Fact

// packageFacts returns one fact per installed package.
func packageFacts(pkgs []Package, now int64) facts {
	out := facts{}
	for _, p := range pkgs {
		if !p.Installed() {
			continue
		}
		f := fact.Seal(&plumbv1.Fact{
			Kind: plumbv1.FactKind_FACT_KIND_PACKAGE,
			Key:  []byte(p.Key()),
			Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{
				Version: p.Version,
				Arch:    p.Arch,
				Manager: manager,
			}},
			ObservedUnixNano: now,
		})
		out[fact.KeyOf(f)] = f
	}
	return out
}

// conffileFacts returns one fact per tracked conffile of an installed
// package, with its file under root hashed now. When two packages list one
// path (Multi-Arch: same instances share conffiles), the package whose key
// sorts first owns it, so the choice is stable.
func conffileFacts(log *slog.Logger, root string, pkgs []Package, now int64) facts {
	sorted := make([]Package, 0, len(pkgs))
	for _, p := range pkgs {
		if p.Installed() && len(p.Conffiles) > 0 {
			sorted = append(sorted, p)
		}
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Key() < sorted[j].Key() })
	out := facts{}
	for _, p := range sorted {
		for _, c := range p.Conffiles {
			if !c.Tracked() {
				continue
			}
			k := fact.Key{Kind: plumbv1.FactKind_FACT_KIND_CONFFILE, ID: c.Path}
			if _, dup := out[k]; dup {
				continue
			}
			want, _ := hex.DecodeString(c.MD5)
			present, matches := checkMD5(log, root, c.Path, want)
			out[k] = fact.Seal(&plumbv1.Fact{
				Kind: plumbv1.FactKind_FACT_KIND_CONFFILE,
				Key:  []byte(c.Path),
				Attrs: &plumbv1.Fact_Conffile{Conffile: &plumbv1.ConffileAttrs{
					Package:   p.Key(),
					Algorithm: "md5",
					Digest:    want,
					Present:   present,
					Matches:   matches,
					Manager:   manager,
				}},
				ObservedUnixNano: now,
			})
		}
	}
	return out
}

// checkMD5 hashes the host file p. present is false when it cannot be
// read (missing, or unreadable: logged at debug).
func checkMD5(log *slog.Logger, root, p string, want []byte) (present, matches bool) {
	path, err := hostPath(root, p)
	if err != nil {
		log.Debug("conffile unreadable", "path", p, "err", err)
		return false, false
	}
	f, err := os.Open(path)
	if err != nil {
		if !os.IsNotExist(err) {
			log.Debug("conffile unreadable", "path", path, "err", err)
		}
		return false, false
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		log.Debug("conffile unreadable", "path", path, "err", err)
		return false, false
	}
	return true, bytes.Equal(h.Sum(nil), want)
}
