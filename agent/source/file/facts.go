package file

import (
	"time"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/pkg/fact"
	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

const (
	fileKind = plumbv1.FactKind_FACT_KIND_FILE
	dirType  = plumbv1.FileType_FILE_TYPE_DIRECTORY

	ok       = plumbv1.CoverageState_COVERAGE_STATE_OK
	degraded = plumbv1.CoverageState_COVERAGE_STATE_DEGRADED
	blind    = plumbv1.CoverageState_COVERAGE_STATE_BLIND
)

// Coverage reasons this source reports.
const (
	reasonMissing     = "missing"        // a root does not exist
	reasonUnreadable  = "unreadable"     // an entry's content or listing cannot be read
	reasonOverflow    = "queue_overflow" // inotify lost events; rescanning
	reasonWatchLimit  = "watch_limit"    // out of inotify watches; polling
	reasonWatchFailed = "watch_failed"   // a watch failed otherwise; polling
)

// keyOf returns the fact key of p, a path on this machine.
func (r *runner) keyOf(p string) fact.Key {
	return fact.Key{Kind: fileKind, ID: r.set.key(p)}
}

// scope returns the snapshot scope of p and everything under it.
func (r *runner) scope(p string) source.Scope {
	return source.Scope{Kind: fileKind, Prefix: r.set.key(p)}
}

func (r *runner) lookup(p string) (*plumbv1.Fact, bool) {
	return r.sink.Lookup(r.keyOf(p))
}

// display returns p as the host sees it, escaped for logs.
func (r *runner) display(p string) string {
	return fact.Display([]byte(r.set.key(p)))
}

// newFact returns the sealed fact for path p with attributes a, observed
// at t.
func (r *runner) newFact(p string, a *plumbv1.FileAttrs, t time.Time) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{
		Kind:             fileKind,
		Key:              []byte(r.set.key(p)),
		Attrs:            &plumbv1.Fact_File{File: a},
		ObservedUnixNano: t.UnixNano(),
	})
}
