package rpm

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	rpmdb "github.com/knqyf263/go-rpmdb/pkg"
	// go-rpmdb reads sqlite databases through database/sql's "sqlite"
	// driver and leaves the choice of driver to its user: this one is pure
	// Go, so the agent stays a static binary.
	_ "modernc.org/sqlite"

	"github.com/plumb-dev/plumb/agent/source/pkgfact"
)

// dbFiles are the database files rpm may keep in its dbpath, newest format
// first: sqlite (rpm >= 4.16), ndb, Berkeley DB.
var dbFiles = []string{"rpmdb.sqlite", "Packages.db", "Packages"}

// errNoDatabase says the dbpath holds no rpm database.
var errNoDatabase = errors.New("no rpm database")

// Package is one installed package, reduced to what Plumb uses.
type Package struct {
	Name, Arch string
	// EVR is "[epoch:]version-release".
	EVR       string
	Release   string
	Version   string
	Conffiles []Conffile
	// Files are the regular files the package records digests for, read
	// only for the packages readDatabase was asked to keep them for.
	Files []pkgfact.File
}

// Conffile is one %config file with its recorded digest.
type Conffile struct {
	Path      string
	Algorithm string // "md5", "sha256", ...
	Digest    string // hex
}

// findDatabase returns the database file in dir, or errNoDatabase.
func findDatabase(dir string) (string, error) {
	for _, n := range dbFiles {
		p := filepath.Join(dir, n)
		fi, err := os.Stat(p)
		if err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
			return p, nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return "", errNoDatabase
}

// maxKeptFiles bounds the file digests one read keeps for changed
// packages (about 15 MB); packages past it are checked without files.
const maxKeptFiles = 100_000

// readDatabase reads every package from the database file at path. For
// each package keep (nil: none) reports true for, it keeps its files'
// digests, up to maxKeptFiles in all; truncated says some were not kept.
func readDatabase(path string, keep func(Package) bool) (pkgs []Package, truncated bool, err error) {
	// go-rpmdb decodes header blobs the database holds and may index
	// past their end; a damaged database is an error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			pkgs, truncated, err = nil, false, fmt.Errorf("read rpm database %s: malformed: %v", path, r)
		}
	}()
	if err := checkHeaders(path); err != nil {
		return nil, false, fmt.Errorf("read rpm database %s: malformed: %w", path, err)
	}
	db, err := rpmdb.Open(path)
	if err != nil {
		return nil, false, fmt.Errorf("open rpm database %s: %w", path, err)
	}
	defer func() {
		// The sqlite reader closes its handle itself once read; a second
		// close only reports that.
		_ = db.Close()
	}()
	infos, err := db.ListPackages()
	if err != nil {
		return nil, false, fmt.Errorf("read rpm database %s: %w", path, err)
	}
	out := make([]Package, 0, len(infos))
	kept := 0
	for _, in := range infos {
		p, err := fromInfo(in)
		if err != nil {
			return nil, false, fmt.Errorf("read rpm database %s: %w", path, err)
		}
		if keep != nil && keep(p) {
			files, err := filesOf(in)
			if err != nil {
				return nil, false, fmt.Errorf("read rpm database %s: %w", path, err)
			}
			if kept+len(files) > maxKeptFiles {
				truncated = true
			} else {
				p.Files, kept = files, kept+len(files)
			}
		}
		out = append(out, p)
	}
	return out, truncated, nil
}

// filesOf returns the regular files of a header that record a digest,
// ghosts (files rpm does not install) excepted.
func filesOf(in *rpmdb.PackageInfo) ([]pkgfact.File, error) {
	files, err := in.InstalledFiles()
	if err != nil {
		return nil, fmt.Errorf("package %s files: %w", in.Name, err)
	}
	alg := digestName(in.DigestAlgorithm)
	var out []pkgfact.File
	for _, f := range files {
		if int32(f.Flags)&rpmdb.RPMFILE_GHOST != 0 || f.Digest == "" || f.Mode&modeTypeMask != modeRegular {
			continue
		}
		d, err := hex.DecodeString(f.Digest)
		if err != nil {
			continue
		}
		out = append(out, pkgfact.File{Path: f.Path, Algorithm: alg, Digest: d})
	}
	return out, nil
}

// regular is S_IFREG within an rpm file mode.
const (
	modeTypeMask = 0o170000
	modeRegular  = 0o100000
)

// fromInfo converts one header as go-rpmdb decoded it.
func fromInfo(in *rpmdb.PackageInfo) (Package, error) {
	p := Package{Name: in.Name, Arch: in.Arch, Version: in.Version, Release: in.Release}
	p.EVR = in.Version + "-" + in.Release
	if in.Epoch != nil {
		p.EVR = strconv.Itoa(*in.Epoch) + ":" + p.EVR
	}
	files, err := in.InstalledFiles()
	if err != nil {
		return p, fmt.Errorf("package %s files: %w", in.Name, err)
	}
	alg := digestName(in.DigestAlgorithm)
	for _, f := range files {
		if int32(f.Flags)&rpmdb.RPMFILE_CONFIG == 0 || int32(f.Flags)&rpmdb.RPMFILE_GHOST != 0 {
			continue
		}
		if f.Digest == "" || f.Mode&modeTypeMask != modeRegular {
			continue
		}
		p.Conffiles = append(p.Conffiles, Conffile{Path: f.Path, Algorithm: alg, Digest: f.Digest})
	}
	return p, nil
}

// digestName names a header's file digest algorithm. Headers written
// before rpm recorded the algorithm use md5.
func digestName(a rpmdb.DigestAlgorithm) string {
	if a == 0 {
		return "md5"
	}
	return a.String()
}
