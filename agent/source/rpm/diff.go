package rpm

import (
	"bytes"
	"sort"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// report sends sink the changes from old to cur: an upsert for each fact
// that is new or whose digest changed, a delete for each that is gone, in
// key order. It returns how many changes it sent.
func report(sink source.Sink, old, cur facts) int {
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
		sink.Upsert(cur[k])
	}
	for _, k := range del {
		sink.Delete(k)
	}
	return len(up) + len(del)
}

// snapshot sends sink every fact of cur as a complete snapshot of scope.
func snapshot(sink source.Sink, scope source.Scope, cur facts) {
	keys := make([]fact.Key, 0, len(cur))
	for k := range cur {
		keys = append(keys, k)
	}
	sortKeys(keys)
	sink.Begin(scope)
	for _, k := range keys {
		sink.Upsert(cur[k])
	}
	sink.End(scope)
}

func sortKeys(ks []fact.Key) {
	sort.Slice(ks, func(i, j int) bool { return ks[i].ID < ks[j].ID })
}
