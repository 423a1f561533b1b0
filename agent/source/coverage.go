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
type Coverage struct {
	mu      sync.Mutex
	gaps    map[coverageKey]*plumbv1.CoverageCondition // guarded by mu
	version uint64                                     // guarded by mu; bumped on change
	changed chan struct{}
}

type coverageKey struct{ source, reason, detail string }

// NewCoverage returns an empty set.
func NewCoverage() *Coverage {
	return &Coverage{gaps: map[coverageKey]*plumbv1.CoverageCondition{}, changed: make(chan struct{}, 1)}
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
		if had && old.State == cond.State {
			return
		}
		c.gaps[k] = &plumbv1.CoverageCondition{
			Source: source, State: cond.State, Reason: cond.Reason, Detail: cond.Detail,
			SinceUnixNano: time.Now().UnixNano(),
		}
	}
	c.version++
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Snapshot returns the open gaps, sorted, and a version number that
// changes whenever they do.
func (c *Coverage) Snapshot() ([]*plumbv1.CoverageCondition, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*plumbv1.CoverageCondition, 0, len(c.gaps))
	for _, g := range c.gaps {
		out = append(out, g)
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
