package pkgfact

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"syscall"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/hostpath"
)

// File is one file a package database records a digest for.
type File struct {
	Path      string // absolute, on the host
	Algorithm string // as NewHash names it
	Digest    []byte
}

// Change names a package's version change; OldVersion is "" for a first
// install.
type Change struct {
	Package    string // the package's fact key
	OldVersion string
	NewVersion string
	Manager    string
}

// Limits bound one package's check, so that a package of many or large
// files neither makes a delta the collector refuses nor holds its source
// for long. Past any of them the check stops and is marked truncated.
type Limits struct {
	// MaxPaths bounds the paths listed (matched, mismatched and missing
	// together), MaxPathBytes their bytes.
	MaxPaths     int
	MaxPathBytes int
	// MaxHashBytes bounds the file content read and hashed.
	MaxHashBytes int64
}

// DefaultLimits are the package sources' limits: 2,048 paths, 256 KiB of
// path bytes (a delta well under the collector's message limit), 256 MiB
// hashed (a fraction of a second to a few seconds of one core).
func DefaultLimits() Limits {
	return Limits{MaxPaths: 2048, MaxPathBytes: 256 << 10, MaxHashBytes: 256 << 20}
}

// class is how one file compares with its recorded digest.
type class int

const (
	matched class = iota
	mismatched
	missing
	overBudget // not read: the hash budget would be exceeded
)

// Verify checks the files a package's new version records digests for
// against the host under root and returns the change with the result.
// Files are taken in path order, the first entry of a path winning; files
// whose algorithm Plumb cannot compute are left out. Files counts every
// checkable file, listed or not.
//
// A file that is not a regular file on the host (a directory, a device, a
// symlink: the final component is never followed) does not hold the
// recorded content: it is mismatched, and not read. A file that is absent
// or unreadable is missing.
func Verify(log *slog.Logger, root string, ch Change, files []File, lim Limits) *plumbv1.PackageChange {
	out := &plumbv1.PackageChange{
		Package: ch.Package, OldVersion: ch.OldVersion, NewVersion: ch.NewVersion, Manager: ch.Manager,
	}
	checkable := make([]File, 0, len(files))
	for _, f := range files {
		if NewHash(f.Algorithm) != nil && len(f.Digest) > 0 {
			checkable = append(checkable, f)
		}
	}
	sort.SliceStable(checkable, func(i, j int) bool { return checkable[i].Path < checkable[j].Path })
	uniq := checkable[:0]
	for i, f := range checkable {
		if i > 0 && f.Path == checkable[i-1].Path {
			continue
		}
		uniq = append(uniq, f)
	}
	out.Files = uint32(min(len(uniq), 1<<32-1))
	budget := lim.MaxHashBytes
	listed, pathBytes := 0, 0
	for _, f := range uniq {
		if listed >= lim.MaxPaths || pathBytes+len(f.Path) > lim.MaxPathBytes {
			out.Truncated = true
			break
		}
		c, sum, read := classify(log, root, f, budget)
		budget -= read
		if c == overBudget {
			out.Truncated = true
			break
		}
		p := []byte(f.Path)
		switch c {
		case matched:
			out.Matched = append(out.Matched, p)
			out.MatchedSha256 = append(out.MatchedSha256, sum)
		case mismatched:
			out.Mismatched = append(out.Mismatched, p)
		case missing:
			out.Missing = append(out.Missing, p)
		}
		listed++
		pathBytes += len(f.Path)
	}
	return out
}

// classify compares f's file under root with its digest, reading at most
// budget bytes, and returns the SHA-256 of what it read and how many bytes
// that was.
func classify(log *slog.Logger, root string, f File, budget int64) (class, []byte, int64) {
	// Symlinks in the directories are followed as the host would, inside
	// root; the file itself is opened without following one.
	dir, err := hostpath.Resolve(root, path.Dir(f.Path))
	if err != nil {
		log.Debug("package file unreadable", "path", f.Path, "err", err)
		return missing, nil, 0
	}
	fd, err := os.OpenFile(filepath.Join(dir, path.Base(f.Path)), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, syscall.ELOOP):
		return mismatched, nil, 0 // a symlink where a file was recorded
	case err != nil:
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			log.Debug("package file unreadable", "path", f.Path, "err", err)
		}
		return missing, nil, 0
	}
	defer fd.Close()
	fi, err := fd.Stat()
	if err != nil {
		return missing, nil, 0
	}
	if !fi.Mode().IsRegular() {
		return mismatched, nil, 0
	}
	if fi.Size() > budget {
		return overBudget, nil, 0
	}
	return hashFile(log, fd, f, NewHash(f.Algorithm)(), budget)
}

// hashFile hashes fd with h, and with SHA-256 in the same read, reading at
// most budget bytes (the file may grow after its stat).
func hashFile(log *slog.Logger, fd *os.File, f File, h hash.Hash, budget int64) (class, []byte, int64) {
	s := sha256.New()
	n, err := io.Copy(io.MultiWriter(h, s), io.LimitReader(fd, budget+1))
	switch {
	case n > budget:
		return overBudget, nil, budget
	case err != nil:
		log.Debug("package file unreadable", "path", f.Path, "err", err)
		return missing, nil, n
	case bytes.Equal(h.Sum(nil), f.Digest):
		return matched, s.Sum(nil), n
	}
	return mismatched, nil, n
}
