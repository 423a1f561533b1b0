package source

import (
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// RacyWindow is how long after a file's last ctime its recorded hash is
// trusted by the file source's stat fast path. A file changed again within
// the same timestamp tick as its last hashing keeps size, mtime and ctime;
// with coarse clocks or filesystems that store whole seconds such a
// rewrite is only caught if the fast path is refused for files that were
// hashed shortly after their ctime.
const RacyWindow = 2 * time.Second

// Settled reports whether f, a recorded fact, may be reused without
// reading the file again: it is not a file, or it was observed at least
// RacyWindow after its ctime. The state keeps refreshing an unchanged
// fact's observation until it is settled, and no longer after.
func Settled(f *plumbv1.Fact) bool {
	a := f.GetFile()
	return a == nil || f.GetObservedUnixNano()-a.GetCtimeUnixNano() >= int64(RacyWindow)
}
