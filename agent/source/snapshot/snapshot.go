// Package snapshot owns how a source that re-reads its part of the host
// (a package database, /proc) reports each reading: the first as a
// complete snapshot of a scope, later ones as only what changed since the
// reading before, always in a stable key order.
package snapshot

import (
	"bytes"
	"sort"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// Facts is one reading: sealed facts by key.
type Facts map[fact.Key]*plumbv1.Fact

// Add records the sealed fact f under its key.
func (fs Facts) Add(f *plumbv1.Fact) { fs[fact.KeyOf(f)] = f }

// Send reports every fact of cur that scope contains as one complete
// snapshot of scope: whatever the sink held in scope and cur lacks is
// deleted at its end.
func Send(sink source.Sink, scope source.Scope, cur Facts) {
	sink.Begin(scope)
	for _, k := range sortedKeys(cur) {
		if f := cur[k]; scope.Contains(k, f) {
			sink.Upsert(f)
		}
	}
	sink.End(scope)
}

// Report sends sink the changes from old to cur: an upsert for each fact
// that is new or whose digest changed, then a delete for each that is
// gone. It returns how many changes it sent.
func Report(sink source.Sink, old, cur Facts) int {
	return ReportAnnotated(sink, old, cur, nil)
}

// Annotate returns the package change to send with the upsert of cur,
// whose last sent value is old (nil when new), or nil for none.
type Annotate func(old, cur *plumbv1.Fact) *plumbv1.PackageChange

// ReportAnnotated is Report, with each upsert's package change asked of
// annotate (nil: none) and sent through source.ChangeSink when the sink
// has it.
func ReportAnnotated(sink source.Sink, old, cur Facts, annotate Annotate) int {
	cs, _ := sink.(source.ChangeSink)
	var up, del []fact.Key
	for k, f := range cur {
		if o, ok := old[k]; !ok || !bytes.Equal(o.GetDigest(), f.GetDigest()) {
			up = append(up, k)
		}
	}
	for k := range old {
		if _, ok := cur[k]; !ok {
			del = append(del, k)
		}
	}
	sortKeys(up)
	sortKeys(del)
	for _, k := range up {
		if annotate != nil && cs != nil {
			if c := annotate(old[k], cur[k]); c != nil {
				cs.UpsertChange(cur[k], c)
				continue
			}
		}
		sink.Upsert(cur[k])
	}
	for _, k := range del {
		sink.Delete(k)
	}
	return len(up) + len(del)
}

func sortedKeys(fs Facts) []fact.Key {
	keys := make([]fact.Key, 0, len(fs))
	for k := range fs {
		keys = append(keys, k)
	}
	sortKeys(keys)
	return keys
}

// sortKeys orders keys by kind, then key.
func sortKeys(ks []fact.Key) {
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].Kind != ks[j].Kind {
			return ks[i].Kind < ks[j].Kind
		}
		return ks[i].ID < ks[j].ID
	})
}
