package pkgfact

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"io"
	"log/slog"
	"os"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/hostpath"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// Recorded is a configuration file as a package database records it.
type Recorded struct {
	Path      string // on the host
	Package   string // the owning package's fact key
	Manager   string // "dpkg", "rpm"
	Algorithm string // "md5", "sha256", ... (ConffileAttrs.algorithm)
	Digest    []byte
}

// Conffile hashes r's file under the host root and returns r's sealed
// fact, saying whether the file is there and matches. ok is false when
// Plumb cannot compute r.Algorithm. A file that cannot be read is not
// present (logged at debug unless it is missing).
func Conffile(log *slog.Logger, root string, r Recorded, now int64) (f *plumbv1.Fact, ok bool) {
	newHash := NewHash(r.Algorithm)
	if newHash == nil {
		return nil, false
	}
	present, matches := check(log, root, r.Path, newHash(), r.Digest)
	return fact.Seal(&plumbv1.Fact{
		Kind: plumbv1.FactKind_FACT_KIND_CONFFILE,
		Key:  []byte(r.Path),
		Attrs: &plumbv1.Fact_Conffile{Conffile: &plumbv1.ConffileAttrs{
			Package:   r.Package,
			Algorithm: r.Algorithm,
			Digest:    r.Digest,
			Present:   present,
			Matches:   matches,
			Manager:   r.Manager,
		}},
		ObservedUnixNano: now,
	}), true
}

// NewHash returns the constructor of the digest named alg, as package
// databases name them, or nil when Plumb does not compute it.
func NewHash(alg string) func() hash.Hash {
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

// check hashes the host file p with h. present is false when it cannot be
// read.
func check(log *slog.Logger, root, p string, h hash.Hash, want []byte) (present, matches bool) {
	path, err := hostpath.Resolve(root, p)
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
