// Package filestamp owns a file's identity stamp: its size, modification
// time and inode, enough to tell that a database file was rewritten or
// replaced without reading it.
package filestamp

import (
	"fmt"
	"os"
)

// Missing is the stamp of a file that cannot be stat'ed.
const Missing = "-"

// Of returns the stamp of the file at path, following symlinks, or
// Missing.
func Of(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return Missing
	}
	return fmt.Sprintf("%d/%d/%d", fi.Size(), fi.ModTime().UnixNano(), inode(fi))
}
