package source

import (
	"sort"
	"sync"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// Coverage holds the open gaps in what the sources see, keyed by source,
// reason and detail. A condition with state OK closes the matching gap.
// The stream sends the whole set to the collector whenever it changes.
//
// A source that restarts forgets the gaps it had opened, so it would never
// close them. The runner calls Restart before running it again and Settle
// once the new run's first snapshot is complete: the gaps the new run did
// not report again are closed then, not before, so no gap disappears
// while nothing is looking.
type Coverage struct {
	mu      sync.Mutex
	gaps    map[coverageKey]*gap // guarded by mu
	runs    map[string]uint64    // guarded by mu; source → its current run
	version uint64               // guarded by mu; bumped on change
	changed chan struct{}
}

type coverageKey struct{ source, reason, detail string }

type gap struct {
	cond *plumbv1.CoverageCondition
	run  uint64 // the source's run that last reported it
}

// NewCoverage returns an empty set.
func NewCoverage() *Coverage {
	return &Coverage{gaps: map[coverageKey]*gap{}, runs: map[string]uint64{}, changed: make(chan struct{}, 1)}
}

// Restart says source is being run again: the gaps it reported so far
// stay open until Settle.
func (c *Coverage) Restart(source string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runs[source]++
}

// Settle closes the gaps source reported before its last Restart and has
// not reported again since.
func (c *Coverage) Settle(source string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	run := c.runs[source]
	closed := false
	for k, g := range c.gaps {
		if k.source == source && g.run < run {
			delete(c.gaps, k)
			closed = true
		}
	}
	if closed {
		c.bumpLocked()
	}
}

func (c *Coverage) bumpLocked() {
	c.version++
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Set opens, updates or (State OK) closes a gap.
func (c *Coverage) Set(source string, cond Condition) {
	k := coverageKey{source, cond.Reason, cond.Detail}
	c.mu.Lock()
	defer c.mu.Unlock()
	old, had := c.gaps[k]
	if cond.State == plumbv1.CoverageState_COVERAGE_STATE_OK {
		if !had {
			return
		}
		delete(c.gaps, k)
	} else {
		if had && old.cond.State == cond.State {
			old.run = c.runs[source]
			return
		}
		c.gaps[k] = &gap{run: c.runs[source], cond: &plumbv1.CoverageCondition{
			Source: source, State: cond.State, Reason: cond.Reason, Detail: cond.Detail,
			SinceUnixNano: time.Now().UnixNano(),
		}}
	}
	c.bumpLocked()
}

// Snapshot returns the open gaps, sorted, and a version number that
// changes whenever they do.
func (c *Coverage) Snapshot() ([]*plumbv1.CoverageCondition, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*plumbv1.CoverageCondition, 0, len(c.gaps))
	for _, g := range c.gaps {
		out = append(out, g.cond)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		if a.Reason != b.Reason {
			return a.Reason < b.Reason
		}
		return a.Detail < b.Detail
	})
	return out, c.version
}

// Changed receives a value after the set changes.
func (c *Coverage) Changed() <-chan struct{} { return c.changed }
