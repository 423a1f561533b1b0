package ingest

import (
	"fmt"
	"strings"
	"unicode/utf8"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/limits"
)

// A file fact's content change (FileAttrs.content) is context, not
// configuration: the collector keeps it on the drift item, for people to
// read. So a bad one is not a reason to refuse the fact it came with; it
// is trimmed or dropped here, and counted (limit "content"):
//
//   - a snapshot's or resync's facts never carry one (the agent sends it
//     with live changes only);
//   - a file that is not a regular file readable by all never has one:
//     its content must not leave its host, whatever the agent says;
//   - a state outside the known ones drops it; a diff with a state other
//     than DIFF is dropped;
//   - a diff over limits.MaxContentDiffBytes is cut at a line end, with a
//     last line saying so.
//
// The diff is shown escaped (termsafe) wherever it is printed; protobuf
// has already refused one that is not UTF-8.

// trimContent applies the rules above to the content change of f, a fact
// from an agent; live says whether it came as a delta.
func (s *Server) trimContent(f *plumbv1.Fact, live bool) {
	a := f.GetFile()
	c := a.GetContent()
	if c == nil {
		return
	}
	if reason := contentProblem(a, live); reason != "" {
		a.Content = nil
		s.lm.Reject(limits.Content)
		return
	}
	if c.GetState() != plumbv1.ContentState_CONTENT_STATE_DIFF && c.GetUnifiedDiff() != "" {
		c.UnifiedDiff = ""
		s.lm.Reject(limits.Content)
	}
	if d := c.GetUnifiedDiff(); len(d) > limits.MaxContentDiffBytes {
		c.UnifiedDiff = cutDiff(d, limits.MaxContentDiffBytes)
		s.lm.Reject(limits.Content)
	}
}

// contentProblem says why a may not carry its content change, "" if it may.
func contentProblem(a *plumbv1.FileAttrs, live bool) string {
	switch {
	case !live:
		return "snapshot"
	case a.GetType() != plumbv1.FileType_FILE_TYPE_REGULAR || a.GetMode()&0o004 == 0:
		return "not a regular file readable by all"
	}
	if _, ok := plumbv1.ContentState_name[int32(a.GetContent().GetState())]; !ok {
		return "unknown state"
	}
	return ""
}

// cutDiff cuts d to at most limit bytes, at a line end (at a rune
// boundary if a line is longer than that), with a note.
func cutDiff(d string, limit int) string {
	note := fmt.Sprintf("... diff cut by the collector at %d of %d bytes ...\n", limit, len(d))
	keep := max(limit-len(note), 0)
	if i := strings.LastIndexByte(d[:keep], '\n'); i >= 0 {
		return d[:i+1] + note
	}
	for keep > 0 && !utf8.RuneStart(d[keep]) {
		keep--
	}
	return d[:keep] + "\n" + note
}
