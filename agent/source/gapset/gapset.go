// Package gapset keeps the coverage gaps one run of a source has open, so
// that the sink hears of each gap once when it opens and once when it
// closes, however often the source runs into it.
package gapset

import (
	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
)

// Set is the open gaps of one source run. It is not safe for concurrent
// use: the run's goroutine owns it.
type Set struct {
	sink source.Sink
	open map[gap]bool
}

type gap struct{ reason, detail string }

// New returns an empty set that reports to sink.
func New(sink source.Sink) *Set {
	return &Set{sink: sink, open: map[gap]bool{}}
}

// Open reports the gap named by reason and detail, in state, unless it is
// already open. It reports whether it opened the gap.
func (s *Set) Open(state plumbv1.CoverageState, reason, detail string) bool {
	g := gap{reason, detail}
	if s.open[g] {
		return false
	}
	s.open[g] = true
	s.sink.Coverage(source.Condition{State: state, Reason: reason, Detail: detail})
	return true
}

// Close reports the end of the gap named by reason and detail, if it is
// open. It reports whether it closed the gap.
func (s *Set) Close(reason, detail string) bool {
	g := gap{reason, detail}
	if !s.open[g] {
		return false
	}
	delete(s.open, g)
	s.sink.Coverage(source.Condition{State: plumbv1.CoverageState_COVERAGE_STATE_OK, Reason: reason, Detail: detail})
	return true
}
