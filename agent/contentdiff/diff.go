// Package contentdiff owns how the agent shows a change to a text file: a
// unified diff (computed by go-udiff) from the content it kept to the
// content it reads now, with the values of lines that look like secrets
// replaced on both sides, and cut to a bound. It decides what counts as
// text, too. It keeps nothing itself: the file source keeps content in the
// agent's state.
package contentdiff

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	udiff "github.com/aymanbagabas/go-udiff"
)

// contextLines is how many unchanged lines surround each hunk, as diff -u.
const contextLines = 3

// Text reports whether b may be shown as text: UTF-8 (a proto string must
// be) without NUL bytes.
func Text(b []byte) bool {
	return bytes.IndexByte(b, 0) < 0 && utf8.Valid(b)
}

// Diff is a change shown as a unified diff.
type Diff struct {
	// Unified is the diff, "" when old and new are equal.
	Unified string
	// Redacted is true when a line of Unified had a secret replaced.
	Redacted bool
	// Cut is true when Unified was cut to the limit.
	Cut bool
}

// Unified returns the unified diff from old to new, both text (see Text),
// labelled a/name and b/name. Values of lines that look like secrets are
// replaced by Marker, on both sides and in context lines, and the diff is
// cut at a line end to at most limit bytes (limit > 0), with a last line
// saying so.
func Unified(name string, old, new []byte, limit int) Diff {
	o, n := string(old), string(new)
	edits := lineEdits(o, n)
	if len(edits) == 0 {
		return Diff{}
	}
	u, err := udiff.ToUnifiedDiff("a"+name, "b"+name, o, edits, contextLines)
	if err != nil {
		// The edits come from udiff and cover whole lines; an error is
		// a bug, and no diff is better than a wrong one.
		return Diff{Unified: "(diff unavailable: " + err.Error() + ")\n"}
	}
	fixToLines(u.Hunks)
	redacted := redactHunks(u.Hunks, secretLines(o), secretLines(n))
	d := Diff{Unified: u.String(), Redacted: redacted}
	d.Unified, d.Cut = cut(d.Unified, limit)
	return d
}

// fixToLines sets each hunk's first line in the new content from its
// first line in the old and the lines the hunks before it added and
// removed: go-udiff v0.3.1 leaves out the unchanged lines between two
// edits of one hunk when it counts them, so its later hunks start too
// early on the new side (diff -u disagrees; see the test).
func fixToLines(hunks []*udiff.Hunk) {
	shift := 0
	for _, h := range hunks {
		h.ToLine = h.FromLine + shift
		for _, l := range h.Lines {
			switch l.Kind {
			case udiff.Insert:
				shift++
			case udiff.Delete:
				shift--
			}
		}
	}
}

// lineEdits returns udiff's edits from old to new, line by line: each
// distinct line is first replaced by one rune, so that udiff's search
// (which gives up on long ones, for speed) counts changed lines rather
// than changed characters, and a few changed lines in a long file come
// out as just those lines.
func lineEdits(old, new string) []udiff.Edit {
	tok := tokenizer{ids: map[string]rune{}, lines: map[rune]string{}}
	oldLines, oldRunes := tok.split(old)
	_, newRunes := tok.split(new)
	// Byte offsets of each line of old, and of each rune of oldRunes.
	lineOff := make([]int, len(oldLines)+1)
	for i, l := range oldLines {
		lineOff[i+1] = lineOff[i] + len(l)
	}
	runeIdx := make(map[int]int, len(oldLines)+1)
	off := 0
	for i, r := range []rune(oldRunes) {
		runeIdx[off] = i
		off += utf8.RuneLen(r)
	}
	runeIdx[off] = len(oldLines)

	edits := udiff.Strings(oldRunes, newRunes)
	out := make([]udiff.Edit, 0, len(edits))
	for _, e := range edits {
		var b strings.Builder
		for _, r := range e.New {
			b.WriteString(tok.lines[r])
		}
		out = append(out, udiff.Edit{
			Start: lineOff[runeIdx[e.Start]],
			End:   lineOff[runeIdx[e.End]],
			New:   b.String(),
		})
	}
	return out
}

// firstRune is the rune of the first distinct line: above ASCII, so that
// udiff takes its rune path, whose edits fall on rune boundaries.
const firstRune = 0x100

type tokenizer struct {
	ids   map[string]rune
	lines map[rune]string
}

// split returns s's lines (each with its newline, the last maybe without)
// and one rune per line.
func (t *tokenizer) split(s string) ([]string, string) {
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	var b strings.Builder
	for _, l := range lines {
		r, ok := t.ids[l]
		if !ok {
			r = firstRune + rune(len(t.lines))
			if r >= 0xD800 {
				r += 0x800 // past the surrogates, which are not runes
			}
			t.ids[l] = r
			t.lines[r] = l
		}
		b.WriteRune(r)
	}
	return lines, b.String()
}

// cut shortens d to at most limit bytes, at a line end, and says so.
func cut(d string, limit int) (string, bool) {
	if limit <= 0 || len(d) <= limit {
		return d, false
	}
	note := fmt.Sprintf("... diff cut at %d of %d bytes ...\n", limit, len(d))
	keep := limit - len(note)
	if keep < 0 {
		keep = 0
	}
	i := strings.LastIndexByte(d[:keep], '\n')
	return d[:i+1] + note, true
}
