package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/plumb-dev/plumb/pkg/termsafe"
)

// Everything plumbctl prints that came from the collector (and so, often,
// from an agent) is escaped by termsafe before it reaches the terminal:
// text cells and error messages by esc (keys by fact.Display, the same
// escaping), JSON by termsafe.JSON. As a last guard, table rows and the
// final error line escape whatever still holds a control character.

// esc escapes text from the collector or an agent for the terminal.
func esc(s string) string { return termsafe.String(s) }

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	if _, err := w.Write(termsafe.JSON(buf.Bytes())); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// jsonLine is v as one line of JSON and a newline, for streams.
func jsonLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("write json: %w", err)
	}
	return append(termsafe.JSON(b), '\n'), nil
}

// table writes aligned columns. Cells must not contain tabs or newlines:
// callers escape text with esc or fact.Display first.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if !termsafe.Safe(c) {
			cells[i] = esc(c) // a cell the caller forgot to escape
		}
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// timeCell renders unix nanoseconds as RFC 3339 UTC to the second; zero
// (never) renders as "-".
func timeCell(ns int64) string {
	if ns == 0 {
		return "-"
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// short cuts an id or hex digest to n characters for tables.
func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// orDash shows an empty cell as "-" so columns stay readable.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
