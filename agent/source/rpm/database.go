package rpm

import (
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

// readDatabase reads every package from the database file at path.
func readDatabase(path string) (pkgs []Package, err error) {
	// go-rpmdb decodes header blobs the database holds and may index
	// past their end; a damaged database is an error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			pkgs, err = nil, fmt.Errorf("read rpm database %s: malformed: %v", path, r)
		}
	}()
	if err := checkHeaders(path); err != nil {
		return nil, fmt.Errorf("read rpm database %s: malformed: %w", path, err)
	}
	db, err := rpmdb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open rpm database %s: %w", path, err)
	}
	defer func() {
		// The sqlite reader closes its handle itself once read; a second
		// close only reports that.
		_ = db.Close()
	}()
	infos, err := db.ListPackages()
	if err != nil {
		return nil, fmt.Errorf("read rpm database %s: %w", path, err)
	}
	out := make([]Package, 0, len(infos))
	for _, in := range infos {
		p, err := fromInfo(in)
		if err != nil {
			return nil, fmt.Errorf("read rpm database %s: %w", path, err)
		}
		out = append(out, p)
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
