package ingest

import (
	"strings"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// coverageHealth says whether an agent's coverage record shows a gap, and
// describes it for the host's "coverage" health item: one entry per
// source and reason, with the first detail the agent gave. The detail
// names no counts, so that one more unreadable path does not update the
// item: a new kind of gap does.
func coverageHealth(conds []*plumbv1.CoverageCondition) (degraded bool, detail string) {
	type group struct{ source, reason string }
	var order []group
	first := map[group]*plumbv1.CoverageCondition{}
	more := map[group]bool{}
	for _, c := range conds {
		if c.GetState() == plumbv1.CoverageState_COVERAGE_STATE_OK {
			continue
		}
		g := group{c.GetSource(), c.GetReason()}
		if first[g] == nil {
			first[g] = c
			order = append(order, g)
		} else {
			more[g] = true
		}
	}
	if len(order) == 0 {
		return false, "full coverage again"
	}
	var b strings.Builder
	for i, g := range order {
		if i > 0 {
			b.WriteString("; ")
		}
		c := first[g]
		b.WriteString(g.source + " " + g.reason)
		if d := c.GetDetail(); d != "" {
			b.WriteString(" " + d)
		}
		if more[g] {
			b.WriteString(" and more")
		}
		b.WriteString(" (" + strings.ToLower(strings.TrimPrefix(c.GetState().String(), "COVERAGE_STATE_")) + ")")
	}
	return true, b.String()
}
