package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// table is the printed result of one benchmark: one row per contender,
// with its absolute figure and its ratio to a reference row.
type table struct {
	title string
	head  []string
	rows  [][]string
	notes []string
}

func newTable(title string, head ...string) *table { return &table{title: title, head: head} }

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) note(format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

// print writes the table to stdout, where `go test -bench` output goes.
func (t *table) print() {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n=== %s\n", t.title)
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, strings.Join(t.head, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	w.Flush()
	for _, n := range t.notes {
		fmt.Fprintf(&sb, "  %s\n", n)
	}
	fmt.Fprint(os.Stdout, sb.String())
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func millis(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func mib(n float64) string { return fmt.Sprintf("%.1f MiB", n/(1<<20)) }

// ratio formats a/b as "1.23×".
func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// envInt reads a positive integer from the environment, or def.
func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}
