package pkgfact

import (
	"log/slog"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

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

// FileReading is an optional interface of a Reading: a database that
// records per-file digests lists those of an installed package's version,
// for the check sent with its version change.
type FileReading interface {
	// PackageFiles returns the files the installed package key records
	// digests for.
	PackageFiles(key string) ([]File, error)
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
	// verify: check upgraded packages' files (CheckUpgrades)
	verify *verifier
}

type verifier struct {
	log    *slog.Logger
	root   string
	limits Limits
}

// CheckUpgrades makes Update check, for each package whose version
// changed or that is new, its files under root against the digests its
// Reading records (FileReading), and send the result with the package's
// fact (source.ChangeSink). Snapshots send none: only a change seen live
// has an old version to name.
func (r *Reporter) CheckUpgrades(log *slog.Logger, root string, lim Limits) {
	r.verify = &verifier{log: log, root: root, limits: lim}
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
	n := snapshot.ReportAnnotated(r.sink, r.packages, cur, r.annotate(rd))
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

// annotate returns the check of a package whose version changed in rd,
// or nil when upgrades are not checked or rd records no file digests.
func (r *Reporter) annotate(rd Reading) snapshot.Annotate {
	fr, ok := rd.(FileReading)
	if r.verify == nil || !ok {
		return nil
	}
	v := r.verify
	return func(old, cur *plumbv1.Fact) *plumbv1.PackageChange {
		if cur.GetKind() != plumbv1.FactKind_FACT_KIND_PACKAGE {
			return nil
		}
		newV, oldV := cur.GetPackage().GetVersion(), old.GetPackage().GetVersion()
		if old != nil && oldV == newV {
			return nil
		}
		key := string(cur.GetKey())
		files, err := fr.PackageFiles(key)
		if err != nil {
			// The version change is still worth sending, with no files.
			v.log.Warn("package file digests unreadable", "package", key, "err", err)
		}
		start := time.Now()
		c := Verify(v.log, v.root, Change{Package: key, OldVersion: oldV, NewVersion: newV, Manager: r.manager}, files, v.limits)
		c.Truncated = c.Truncated || err != nil // the check is incomplete
		v.log.Debug("package files checked", "package", key, "old_version", oldV, "new_version", newV,
			"files", c.GetFiles(), "matched", len(c.GetMatched()), "mismatched", len(c.GetMismatched()),
			"missing", len(c.GetMissing()), "truncated", c.GetTruncated(), "duration", time.Since(start))
		return c
	}
}
