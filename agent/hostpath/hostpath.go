// Package hostpath resolves a path as seen by the host inside the
// directory where the host's filesystem is mounted (the agent's host root):
// symlinks are followed the way the host would follow them, so that an
// absolute link target or a ".." never leads out of the root.
package hostpath

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// maxLinks bounds symlink hops in one resolution, as the kernel's ELOOP
// limit does.
const maxLinks = 40

// Resolve returns where the host's absolute path p is on this machine,
// with symlinks resolved as the host would resolve them: an absolute
// target is taken relative to root and ".." never climbs above it. With
// root "/" the kernel does this and p is returned as is. The longest
// existing prefix is resolved; a missing component ends the resolution and
// the rest is appended, so opening the result fails with ENOENT.
func Resolve(root, p string) (string, error) {
	if root == "" || root == "/" {
		return p, nil
	}
	resolved := "" // relative to root, clean; "" is root itself
	rest := strings.Split(p, "/")
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			resolved = parent(resolved)
			continue
		}
		next := path.Join(resolved, c)
		fi, err := os.Lstat(filepath.Join(root, next))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			// Nothing exists below next. Joining the rest as it is
			// would let its ".." climb out of the root (a link to
			// "missing/../../../etc" led to this machine's /etc);
			// rooted first, it cannot.
			return filepath.Join(root, next, path.Join(append([]string{"/"}, rest...)...)), nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if links++; links > maxLinks {
			return "", &fs.PathError{Op: "resolve", Path: p, Err: syscall.ELOOP}
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			resolved = ""
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return filepath.Join(root, resolved), nil
}

func parent(rel string) string {
	d := path.Dir(rel)
	if d == "." || d == "/" {
		return ""
	}
	return d
}
