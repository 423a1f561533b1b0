package rpm

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

const manager = "rpm"

// facts is one reading of a kind: sealed facts by key.
type facts map[fact.Key]*plumbv1.Fact

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
func packageFacts(pkgs []Package, now int64) facts {
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
	out := facts{}
	for k, e := range byKey {
		sort.Strings(e.versions)
		f := fact.Seal(&plumbv1.Fact{
			Kind: plumbv1.FactKind_FACT_KIND_PACKAGE,
			Key:  []byte(k),
			Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{
				Version: strings.Join(e.versions, ", "),
				Arch:    e.arch,
				Manager: manager,
			}},
			ObservedUnixNano: now,
		})
		out[fact.KeyOf(f)] = f
	}
	return out
}

// conffileFacts returns one fact per %config file, with its file under
// root hashed now. When several packages list one path (multilib pairs
// such as foo.i686 and foo.x86_64 share their config), the package whose
// key sorts first owns it, so the choice is stable.
func conffileFacts(log *slog.Logger, root string, pkgs []Package, now int64) facts {
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
	out := facts{}
	for _, p := range sorted {
		pk, _ := packageKey(p)
		for _, c := range p.Conffiles {
			k := fact.Key{Kind: plumbv1.FactKind_FACT_KIND_CONFFILE, ID: c.Path}
			if _, dup := out[k]; dup {
				continue
			}
			newHash := hashFor(c.Algorithm)
			want, err := hex.DecodeString(c.Digest)
			if newHash == nil || err != nil {
				log.Debug("rpm conffile digest not checkable", "path", c.Path, "algorithm", c.Algorithm)
				continue
			}
			present, matches := checkDigest(log, root, c.Path, newHash(), want)
			out[k] = fact.Seal(&plumbv1.Fact{
				Kind: plumbv1.FactKind_FACT_KIND_CONFFILE,
				Key:  []byte(c.Path),
				Attrs: &plumbv1.Fact_Conffile{Conffile: &plumbv1.ConffileAttrs{
					Package:   pk,
					Algorithm: c.Algorithm,
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

func hashFor(alg string) func() hash.Hash {
	switch alg {
	case "md5":
		return md5.New
	case "sha1":
		return sha1.New
	case "sha224":
		return sha256.New224
	case "sha256":
		return sha256.New
	case "sha384":
		return sha512.New384
	case "sha512":
		return sha512.New
	}
	return nil
}

// checkDigest hashes the host file p. present is false when it cannot be
// read (missing, or unreadable: logged at debug).
func checkDigest(log *slog.Logger, root, p string, h hash.Hash, want []byte) (present, matches bool) {
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
	if _, err := io.Copy(h, f); err != nil {
		log.Debug("conffile unreadable", "path", path, "err", err)
		return false, false
	}
	return true, bytes.Equal(h.Sum(nil), want)
}
