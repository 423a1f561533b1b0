package stream

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// The collector refuses a coverage record over its limits (by default
// 1,000 conditions, 256 KiB). A host with more gaps than that (thousands
// of unreadable paths) sends the first ones and one condition that says
// how many more there are: still loud, never refused.
const (
	maxCoverageConditions = 500
	maxCoverageBytes      = 128 << 10
)

// boundCoverage returns conds, or a prefix of them plus a summary, within
// the bounds above. Fields are clipped to what the collector accepts.
func boundCoverage(conds []*plumbv1.CoverageCondition) []*plumbv1.CoverageCondition {
	out := make([]*plumbv1.CoverageCondition, 0, min(len(conds), maxCoverageConditions))
	size := 0
	worst := plumbv1.CoverageState_COVERAGE_STATE_OK
	for i, c := range conds {
		c = clipCondition(c)
		n := proto.Size(c) + 4
		if len(out) == maxCoverageConditions-1 || size+n > maxCoverageBytes-1024 {
			for _, rest := range conds[i:] {
				worst = max(worst, rest.GetState())
			}
			return append(out, &plumbv1.CoverageCondition{
				Source: "agent", State: worst, Reason: "coverage_truncated",
				Detail: fmt.Sprintf("%d more coverage conditions not sent", len(conds)-i),
			})
		}
		out = append(out, c)
		size += n
	}
	return out
}

func clipCondition(c *plumbv1.CoverageCondition) *plumbv1.CoverageCondition {
	if len(c.GetSource()) <= 256 && len(c.GetReason()) <= 256 && len(c.GetDetail()) <= 8192 {
		return c
	}
	c = proto.Clone(c).(*plumbv1.CoverageCondition)
	c.Source = clip(c.Source, 256)
	c.Reason = clip(c.Reason, 256)
	c.Detail = clip(c.Detail, 8192)
	return c
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
