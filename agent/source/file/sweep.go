package file

import (
	"time"

	"golang.org/x/sys/unix"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
)

// A change made through a name the source never looked at says nothing
// inotify can attribute: a hard link made to a file, written or chmodded
// through, and removed before the source looks at it, leaves the event
// under a name that is gone, and the file's own name silent. The change
// did move the file's ctime, though. So an event for a name that is gone
// and was never recorded has the ctime of every recorded regular file
// compared with the disk, and each that moved looked at again.
//
// Temporary files (an editor's swap file, dpkg's .dpkg-new) come and go
// the same way, so sweeps are gathered and paced as link searches are:
// each waits sweepDelay for the burst to pass, and sweeps take at most
// about a tenth of the source's time.
const sweepDelay = 100 * time.Millisecond

// wantSweep has the ctimes swept once the moment's events are handled.
func (r *runner) wantSweep() {
	if r.sweepC != nil {
		return
	}
	r.sweep = time.NewTimer(max(sweepDelay, time.Until(r.sweepNext)))
	r.sweepC = r.sweep.C
}

// sweepCtimes compares the recorded ctime of every regular file under the
// roots with its lstat, and has those that moved looked at again.
func (r *runner) sweepCtimes() {
	r.sweep, r.sweepC = nil, nil
	began := time.Now()
	defer func() { r.sweepNext = time.Now().Add(10 * time.Since(began)) }()
	facts, ok := r.sink.(source.FactReader)
	if !ok {
		return
	}
	var moved []string
	for _, rt := range r.roots {
		err := facts.Facts(r.scope(rt.path), func(f *plumbv1.Fact) error {
			a := f.GetFile()
			if a.GetType() != plumbv1.FileType_FILE_TYPE_REGULAR || a.GetCtimeUnixNano() == 0 {
				return nil // unreadable files record no ctime: their poller has them
			}
			p := r.set.fsPath(string(f.GetKey()))
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil || st.Ctim.Nano() != a.GetCtimeUnixNano() || st.Ino != a.GetInode() {
				moved = append(moved, p)
			}
			return nil
		})
		if err != nil {
			r.logger.Warn("cannot sweep the recorded facts", "err", err)
		}
	}
	for _, p := range moved {
		r.recheck(p)
	}
	if len(moved) > 0 {
		r.logger.Debug("files changed without an event of their own (through a name since gone)", "files", len(moved))
	}
}
