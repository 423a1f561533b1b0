package state

import (
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// unsafeReleaseMapped drops the database's mapped pages from the process's
// resident set. bbolt maps the whole file read-only and shared, and every
// page a transaction reads stays resident in the agent; a scan or a sweep
// of N facts would otherwise leave N facts' worth of pages in its RSS. The
// pages stay in the kernel's page cache, shared and reclaimable, and the
// next read faults them back in with the same bytes: bbolt writes with
// pwrite, never through the map, and never overwrites a page an open
// transaction can read. tx must be a read transaction, which holds the
// map in place (a remap waits for it).
func unsafeReleaseMapped(db *bolt.DB, tx *bolt.Tx) {
	size := tx.Size()
	if size <= 0 {
		return
	}
	_, _, _ = unix.Syscall(unix.SYS_MADVISE, db.Info().Data, uintptr(size), unix.MADV_DONTNEED)
}
