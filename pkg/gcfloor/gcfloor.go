// Package gcfloor keeps the Go garbage collector's heap goal at or above
// a floor. With GOGC=100 the goal is twice the live heap, so a process
// whose live heap is a few MiB collects after every few MiB it allocates:
// a daemon that allocates fast with a small live heap (an agent's first
// scan, a collector's ingest) spends much of its CPU on collections that
// each free almost everything (15 % of the collector's, ingesting one
// agent's first scan of 20,000 files). A floor makes those collections rarer
// at a memory cost that is bounded and known in advance; past the floor,
// the heap grows as GOGC says and no further.
package gcfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// minHeap is the runtime's least heap goal at GOGC=100; it scales with
// GOGC, so the GOGC a floor sets is bounded by floor/minHeap × 100:
// beyond it, the runtime's own minimum would overshoot the floor.
const minHeap = 4 << 20

// A Floor adjusts GOGC after every collection; Stop ends it.
type Floor struct {
	floor uint64
	base  int // GOGC before Set, restored by Stop and never gone below

	mu      sync.Mutex
	stopped bool
	sample  []metrics.Sample
}

// Set keeps the heap goal at least floor bytes until Stop: after every
// collection, GOGC becomes what makes the live heap's goal reach the
// floor, never less than the GOGC in force before. It does nothing (its
// Floor's Stop neither) when the GOGC environment variable is set, the
// operator's choice, or when collection is off.
func Set(floor uint64) *Floor {
	f := &Floor{floor: floor, stopped: true}
	if _, set := os.LookupEnv("GOGC"); set || floor == 0 {
		return f
	}
	f.sample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/gogc:percent"}}
	metrics.Read(f.sample)
	if f.sample[0].Value.Kind() != metrics.KindUint64 || f.sample[1].Value.Kind() != metrics.KindUint64 {
		return f // a runtime without these figures
	}
	// Off, GOGC reads as -1 in a uint64: int64 makes it negative again.
	f.base = int(int64(f.sample[1].Value.Uint64()))
	if f.base <= 0 {
		return f
	}
	f.stopped = false
	f.adjust()
	f.arm()
	return f
}

// Stop restores the GOGC in force before Set.
func (f *Floor) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	f.stopped = true
	debug.SetGCPercent(f.base)
}

// arm runs adjust after the next collection: the finalizer of an object
// nothing refers to runs once a collection has found it unreachable.
func (f *Floor) arm() {
	s := new(sentinel)
	runtime.SetFinalizer(s, func(*sentinel) {
		if f.adjust() {
			f.arm()
		}
	})
}

// sentinel is large enough not to share a tiny-allocator block, whose
// finalizer would wait for its neighbours.
type sentinel [16]uint64

// adjust sets GOGC for the live heap the last collection found, and says
// whether the floor is still in force.
func (f *Floor) adjust() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return false
	}
	metrics.Read(f.sample[:1])
	debug.SetGCPercent(percentFor(f.sample[0].Value.Uint64(), f.floor, f.base))
	return true
}

// percentFor is the GOGC whose goal for a live heap of live bytes,
// live × (1 + GOGC/100), is at least floor, and at least base; but not
// one whose minimum goal, minHeap × GOGC/100, passes the floor.
func percentFor(live, floor uint64, base int) int {
	live = max(live, 1<<20) // before the first collection: no figure yet
	if live >= floor {
		return base
	}
	p := min((floor-live)*100/live, floor*100/minHeap)
	return max(int(p), base)
}
