package pkgfact

import (
	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/source/snapshot"
)

// Reading is one reading of a package database, turned into facts on
// demand.
type Reading interface {
	// PackageFacts returns one fact per installed package, observed at now.
	PackageFacts(now int64) snapshot.Facts
	// ConffileFacts returns one fact per conffile, its file hashed now.
	ConffileFacts(now int64) snapshot.Facts
}

// Reporter sends a sink a package source's readings: the first as
// complete snapshots of the manager's package and conffile scopes, later
// ones as what changed. Conffile facts are left out, and never computed,
// unless the source checks conffiles. A Reporter belongs to one source
// run's goroutine.
type Reporter struct {
	sink      source.Sink
	manager   string
	conffiles bool
	// What was last sent.
	packages, confs snapshot.Facts
}

// NewReporter returns a Reporter for manager's facts, with conffile facts
// when conffiles is set.
func NewReporter(sink source.Sink, manager string, conffiles bool) *Reporter {
	return &Reporter{sink: sink, manager: manager, conffiles: conffiles}
}

// Snapshot sends rd as complete snapshots.
func (r *Reporter) Snapshot(rd Reading, now int64) {
	r.packages = rd.PackageFacts(now)
	snapshot.Send(r.sink, PackageScope(r.manager), r.packages)
	if r.conffiles {
		r.confs = rd.ConffileFacts(now)
		snapshot.Send(r.sink, ConffileScope(r.manager), r.confs)
	}
}

// Update sends what changed from the last reading to rd, and returns how
// many changes it sent.
func (r *Reporter) Update(rd Reading, now int64) int {
	cur := rd.PackageFacts(now)
	n := snapshot.Report(r.sink, r.packages, cur)
	r.packages = cur
	return n + r.Rehash(rd, now)
}

// Rehash sends what changed in rd's conffile facts alone: files edited by
// hand while the database stayed the same.
func (r *Reporter) Rehash(rd Reading, now int64) int {
	if !r.conffiles {
		return 0
	}
	cur := rd.ConffileFacts(now)
	n := snapshot.Report(r.sink, r.confs, cur)
	r.confs = cur
	return n
}

// Counts returns how many package and conffile facts were last sent.
func (r *Reporter) Counts() (packages, conffiles int) {
	return len(r.packages), len(r.confs)
}
