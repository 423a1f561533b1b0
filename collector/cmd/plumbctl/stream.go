package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/plumb-dev/plumb/pkg/termsafe"
)

// Lists arrive a page at a time (the collector caps every reply), and
// plumbctl prints them as they arrive: a big fleet's list starts printing
// at once and never sits whole in memory.

// pageThrough makes one call per page, each with its own timeout, passing
// the token the last call returned, until a call returns none. op names
// the list in errors.
func (a *app) pageThrough(ctx context.Context, op string, call func(ctx context.Context, token string) (next string, err error)) error {
	token := ""
	for {
		cctx, cancel := a.callContext(ctx)
		next, err := call(cctx, token)
		cancel()
		if err != nil {
			return a.rpcError(op, err)
		}
		if next == "" {
			return nil
		}
		if next == token {
			return fmt.Errorf("%s: the collector returned the same page token twice", op)
		}
		token = next
	}
}

// pageService is pageThrough on one connection to a service other than
// QueryService.
func pageService[C any](ctx context.Context, a *app, op string, newClient func(grpc.ClientConnInterface) C, call func(context.Context, C, string) (string, error)) error {
	cc, closeConn, err := a.dial()
	if err != nil {
		return err
	}
	defer closeConn()
	c := newClient(cc)
	return a.pageThrough(ctx, op, func(ctx context.Context, token string) (string, error) {
		return call(ctx, c, token)
	})
}

// listOutput prints the items of a paged list: with -o json a JSON array
// written item by item, otherwise a table written page by page.
type listOutput[T any] struct {
	arr  *jsonArray
	tab  *streamTable
	json func(T) any
	row  func(T) []string
}

func newListOutput[T any](a *app, header []string, toJSON func(T) any, toRow func(T) []string) *listOutput[T] {
	o := &listOutput[T]{json: toJSON, row: toRow}
	if a.opts.Output == outputJSON {
		o.arr = &jsonArray{w: a.stdout}
	} else {
		o.tab = newStreamTable(a.stdout, header...)
	}
	return o
}

// page prints one page's items.
func (o *listOutput[T]) page(items []T) error {
	for _, it := range items {
		if o.arr != nil {
			if err := o.arr.add(o.json(it)); err != nil {
				return err
			}
			continue
		}
		o.tab.row(o.row(it)...)
	}
	if o.tab != nil {
		return o.tab.endPage()
	}
	return nil
}

// close ends the output after the last page. After a failed call it is
// not called: a JSON array left open tells a reader the list is cut.
func (o *listOutput[T]) close() error {
	if o.arr != nil {
		return o.arr.close()
	}
	return o.tab.flush()
}

// jsonArray writes a JSON array one element at a time, byte for byte as
// writeJSON writes the whole array.
type jsonArray struct {
	w io.Writer
	n int
}

func (j *jsonArray) add(v any) error {
	var buf bytes.Buffer
	if j.n == 0 {
		buf.WriteString("[\n  ")
	} else {
		buf.WriteString(",\n  ")
	}
	enc := json.NewEncoder(&buf)
	enc.SetIndent("  ", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if _, err := j.w.Write(termsafe.JSON(b)); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	j.n++
	return nil
}

func (j *jsonArray) close() error {
	end := "\n]\n"
	if j.n == 0 {
		end = "[]\n"
	}
	if _, err := io.WriteString(j.w, end); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// tableHold is how many rows a streamTable holds before it prints: a list
// that fits is aligned as a whole, as a tabwriter would align it; past
// it, columns are as wide as the rows so far needed and widen (never
// narrow) for later pages.
const tableHold = 500

// streamTable writes aligned columns (two spaces between, as table)
// page by page. Cells must not contain tabs or newlines.
type streamTable struct {
	w       io.Writer
	header  []string
	pending [][]string
	widths  []int
	started bool
}

func newStreamTable(w io.Writer, header ...string) *streamTable {
	return &streamTable{w: w, header: header}
}

func (t *streamTable) row(cells ...string) {
	for i, c := range cells {
		if !termsafe.Safe(c) {
			cells[i] = esc(c) // a cell the caller forgot to escape
		}
	}
	t.pending = append(t.pending, cells)
}

// endPage prints the rows held, once there are enough to align by.
func (t *streamTable) endPage() error {
	if !t.started && len(t.pending) < tableHold {
		return nil
	}
	return t.flush()
}

// flush prints every row held.
func (t *streamTable) flush() error {
	rows := t.pending
	if !t.started {
		rows = append([][]string{t.header}, rows...)
		t.started = true
	}
	for _, r := range rows {
		for i, c := range r {
			if i == len(t.widths) {
				t.widths = append(t.widths, 0)
			}
			t.widths[i] = max(t.widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", t.widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	t.pending = nil
	if _, err := io.WriteString(t.w, b.String()); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// pageSizeFlag adds --page-size to a list command.
func pageSizeFlag(cmd *cobra.Command, size *uint32) {
	cmd.Flags().Uint32Var(size, "page-size", 0, "items per call to the collector (0: its default); plumbctl fetches every page")
}

// labelSelector joins --label flags into a label selector.
func labelSelector(labels []string) string {
	return strings.Join(labels, ",")
}
