package dpkg

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/plumb-dev/plumb/agent/source/pkgfact"
)

// maxMD5SumsBytes bounds the md5sums file read for one package (a package
// of about 150,000 files); a larger one is not checked.
const maxMD5SumsBytes = 16 << 20

// maxMD5SumsLine bounds one line: a 32-digit digest, two spaces and a
// path (PATH_MAX is 4096).
const maxMD5SumsLine = 8 << 10

// ParseMD5Sums parses a dpkg info file <package>.md5sums: one line per
// regular file the package ships (conffiles usually excepted), each the
// file's md5 in 32 hex digits, two spaces, and its path relative to the
// root. Paths are returned absolute and cleaned, so that ".." cannot name
// anything outside the root. Malformed lines (a short or non-hex digest,
// a missing separator, an empty path) are skipped and counted, as dpkg
// skips them; skipped says how many.
func ParseMD5Sums(r io.Reader) (files []pkgfact.File, skipped int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxMD5SumsLine)
	sc.Split(scanLF)
	for sc.Scan() {
		f, ok := parseMD5SumsLine(sc.Bytes())
		if !ok {
			if len(sc.Bytes()) > 0 {
				skipped++
			}
			continue
		}
		files = append(files, f)
	}
	if err := sc.Err(); err != nil {
		return nil, skipped, fmt.Errorf("md5sums: %w", err)
	}
	return files, skipped, nil
}

func parseMD5SumsLine(line []byte) (pkgfact.File, bool) {
	const n = 32
	if len(line) < n+3 || line[n] != ' ' || line[n+1] != ' ' {
		return pkgfact.File{}, false
	}
	digest := make([]byte, n/2)
	if _, err := hex.Decode(digest, line[:n]); err != nil {
		return pkgfact.File{}, false
	}
	p := path.Clean("/" + string(line[n+2:]))
	if p == "/" {
		return pkgfact.File{}, false // the root is no file
	}
	return pkgfact.File{Path: p, Algorithm: "md5", Digest: digest}, true
}

// errMD5SumsTooLarge says a package's md5sums file is over maxMD5SumsBytes.
var errMD5SumsTooLarge = errors.New("md5sums file too large to check")

// packageFiles returns the files p records digests for: its tracked
// conffiles with the md5 the status file records, then its md5sums file
// in infoDir (named <name>:<arch>.md5sums for a Multi-Arch: same package,
// <name>.md5sums otherwise). A package without an md5sums file (dpkg writes
// one for every package it unpacks, but very old ones may lack it) lists
// its conffiles alone.
func packageFiles(infoDir string, p Package) ([]pkgfact.File, error) {
	var files []pkgfact.File
	// Conffiles first: where md5sums lists one too, the status file's
	// digest is the one dpkg checks (pkgfact.Verify keeps the first).
	for _, c := range p.Conffiles {
		if !c.Tracked() {
			continue
		}
		digest, _ := hex.DecodeString(c.MD5) // Tracked: valid hex
		files = append(files, pkgfact.File{Path: c.Path, Algorithm: "md5", Digest: digest})
	}
	for _, name := range []string{p.Name + ":" + p.Arch, p.Name} {
		fs, err := readMD5Sums(filepath.Join(infoDir, name+".md5sums"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return append(files, fs...), nil
	}
	return files, nil
}

func readMD5Sums(p string) ([]pkgfact.File, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if fi.Size() > maxMD5SumsBytes {
		return nil, fmt.Errorf("%s: %w (%d bytes, at most %d)", p, errMD5SumsTooLarge, fi.Size(), maxMD5SumsBytes)
	}
	files, _, err := ParseMD5Sums(io.LimitReader(f, maxMD5SumsBytes))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return files, nil
}

// scanLF splits at "\n" alone: a "\r" before it is part of the file name,
// as dpkg reads it.
func scanLF(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
