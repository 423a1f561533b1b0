package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// diskFact is what the agent should report for one path, read straight
// from the filesystem: the ground truth the collector is held to.
type diskFact struct {
	Type       string // as factjson names it: regular, directory, symlink
	Mode       string // "0644"
	Uid, Gid   uint32
	Size       uint64 // regular files and symlinks
	SHA256     string // regular files
	LinkTarget string // symlinks, as fact.Display shows them
	Digest     string // fact.Digest of the above, hex
}

// diskState is a tree's facts by display key, and their set digest.
type diskState struct {
	facts     map[string]diskFact
	setDigest string
}

// readDisk walks root (root included) the way the file source sees it:
// lstat, no following of symlinks.
func readDisk(t *testing.T, root string) diskState {
	t.Helper()
	st, err := readDiskErr(root)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// readDiskErr is readDisk for callers that retry: a tree still being
// changed can lose a file between the walk and its read.
func readDiskErr(root string) (diskState, error) {
	out := diskState{facts: map[string]diskFact{}}
	var sd fact.SetDigest
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		f, err := observeDisk(p)
		if err != nil {
			return err
		}
		key := fact.KeyOf(f)
		sd.Add(key, f.GetDigest())
		a := f.GetFile()
		d := diskFact{
			Type:   fileTypeName(a.GetType()),
			Mode:   fmt.Sprintf("%04o", a.GetMode()),
			Uid:    a.GetUid(),
			Gid:    a.GetGid(),
			Size:   uint64(a.GetSize()),
			Digest: hex.EncodeToString(f.GetDigest()),
		}
		if a.GetType() == plumbv1.FileType_FILE_TYPE_REGULAR {
			d.SHA256 = hex.EncodeToString(a.GetSha256())
		}
		if a.GetType() == plumbv1.FileType_FILE_TYPE_SYMLINK {
			d.LinkTarget = fact.Display(a.GetLinkTarget())
		}
		out.facts[fact.Display(f.GetKey())] = d
		return nil
	})
	if err != nil {
		return diskState{}, fmt.Errorf("read tree %s: %w", root, err)
	}
	out.setDigest = hex.EncodeToString(sd.Sum())
	return out, nil
}

// observeDisk builds the sealed fact for path p from lstat and its
// content, with the attributes that define configuration.
func observeDisk(p string) (*plumbv1.Fact, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	sys := fi.Sys().(*syscall.Stat_t)
	a := &plumbv1.FileAttrs{Mode: sys.Mode & 0o7777, Uid: sys.Uid, Gid: sys.Gid}
	switch fi.Mode().Type() {
	case 0:
		a.Type = plumbv1.FileType_FILE_TYPE_REGULAR
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		s := sha256.Sum256(b)
		a.Size, a.Sha256 = int64(len(b)), s[:]
	case fs.ModeDir:
		a.Type = plumbv1.FileType_FILE_TYPE_DIRECTORY
	case fs.ModeSymlink:
		a.Type = plumbv1.FileType_FILE_TYPE_SYMLINK
		target, err := os.Readlink(p)
		if err != nil {
			return nil, err
		}
		a.Size, a.LinkTarget = fi.Size(), []byte(target)
	default:
		return nil, fmt.Errorf("%s: file type %v not used by these tests", p, fi.Mode().Type())
	}
	return fact.Seal(&plumbv1.Fact{
		Kind:  plumbv1.FactKind_FACT_KIND_FILE,
		Key:   []byte(p),
		Attrs: &plumbv1.Fact_File{File: a},
	}), nil
}

func fileTypeName(t plumbv1.FileType) string {
	switch t {
	case plumbv1.FileType_FILE_TYPE_REGULAR:
		return "regular"
	case plumbv1.FileType_FILE_TYPE_DIRECTORY:
		return "directory"
	case plumbv1.FileType_FILE_TYPE_SYMLINK:
		return "symlink"
	}
	return t.String()
}
