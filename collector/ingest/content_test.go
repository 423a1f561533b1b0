package ingest

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/limits"
)

func contentFact(mode uint32, typ plumbv1.FileType, c *plumbv1.ContentChange) *plumbv1.Fact {
	return &plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte("/etc/x"),
		Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{Type: typ, Mode: mode, Content: c}}}
}

func TestTrimContent(t *testing.T) {
	reg := plumbv1.FileType_FILE_TYPE_REGULAR
	diff := func(d string) *plumbv1.ContentChange {
		return &plumbv1.ContentChange{State: plumbv1.ContentState_CONTENT_STATE_DIFF, UnifiedDiff: d}
	}
	for name, tc := range map[string]struct {
		f    *plumbv1.Fact
		live bool
		want string // "nil" for dropped, else the diff kept
	}{
		"live diff kept":        {contentFact(0o644, reg, diff("-a\n+b\n")), true, "-a\n+b\n"},
		"snapshot dropped":      {contentFact(0o644, reg, diff("-a\n+b\n")), false, "nil"},
		"0600 dropped":          {contentFact(0o600, reg, diff("-a\n+b\n")), true, "nil"},
		"symlink dropped":       {contentFact(0o777, plumbv1.FileType_FILE_TYPE_SYMLINK, diff("-a\n")), true, "nil"},
		"unknown state dropped": {contentFact(0o644, reg, &plumbv1.ContentChange{State: 99, UnifiedDiff: "x"}), true, "nil"},
		"diff without DIFF state cleared": {contentFact(0o644, reg,
			&plumbv1.ContentChange{State: plumbv1.ContentState_CONTENT_STATE_FIRST, UnifiedDiff: "x"}), true, ""},
	} {
		s := &Server{lm: limits.NewMetrics(nil)}
		s.trimContent(tc.f, tc.live)
		c := tc.f.GetFile().GetContent()
		switch {
		case tc.want == "nil" && c != nil:
			t.Errorf("%s: content %v kept", name, c)
		case tc.want != "nil" && (c == nil || c.GetUnifiedDiff() != tc.want):
			t.Errorf("%s: content %v, want diff %q", name, c, tc.want)
		}
	}
}

// A hostile agent's diffs of any size and shape come out bounded, UTF-8,
// and cut at a line end when they have lines.
func TestTrimContentBoundsHostileDiffs(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	pieces := []string{"a", "é", "€", "𝄞", "\n", "+line\n", "\x1b[31m", strings.Repeat("x", 1000)}
	s := &Server{lm: limits.NewMetrics(nil)}
	for range 200 {
		var b strings.Builder
		n := r.IntN(3 * limits.MaxContentDiffBytes)
		for b.Len() < n {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		in := b.String()
		f := contentFact(0o644, plumbv1.FileType_FILE_TYPE_REGULAR,
			&plumbv1.ContentChange{State: plumbv1.ContentState_CONTENT_STATE_DIFF, UnifiedDiff: in})
		s.trimContent(f, true)
		out := f.GetFile().GetContent().GetUnifiedDiff()
		if len(out) > limits.MaxContentDiffBytes || !utf8.ValidString(out) {
			t.Fatalf("%d bytes in: %d bytes out, valid UTF-8 %v", len(in), len(out), utf8.ValidString(out))
		}
		if len(in) <= limits.MaxContentDiffBytes {
			if out != in {
				t.Fatalf("a diff within the bound was changed")
			}
			continue
		}
		body, ok := strings.CutSuffix(out, "\n")
		lastNL := strings.LastIndexByte(body, '\n')
		if !ok || lastNL < 0 || !strings.HasPrefix(body[lastNL+1:], "... diff cut by the collector at ") {
			t.Fatalf("cut diff does not end with the note: %q", out[max(0, len(out)-120):])
		}
		if kept := body[:lastNL+1]; !strings.HasPrefix(in, strings.TrimSuffix(kept, "\n")) {
			t.Fatalf("cut diff is not a prefix of the input")
		}
	}
	if s.lm.Rejected(limits.Content) == 0 {
		t.Fatal("no trim counted")
	}
}
