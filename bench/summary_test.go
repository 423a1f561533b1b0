package bench

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
)

// The summary is the one table `make bench` ends with: every figure issue
// 15 asks for, each beside the peer or floor measured in the same run and
// the target it is held to. A benchmark adds its rows with summarize as it
// measures them; TestMain prints the table once every benchmark has run,
// in the order the rows were added. A figure whose benchmark did not run
// is simply absent.
var summary struct {
	mu   sync.Mutex
	rows []summaryRow
}

// summaryRow is one figure of the summary.
type summaryRow struct {
	figure string // what is measured
	plumb  string // Plumb's figure, with its CPU cost where it has one
	peer   string // the peer or floor beside it, and Plumb's ratio to it
	target string // what DESIGN.md holds it to
}

// summarize adds a row to the summary.
func summarize(figure, plumb, peer, target string) {
	summary.mu.Lock()
	defer summary.mu.Unlock()
	summary.rows = append(summary.rows, summaryRow{figure, plumb, peer, target})
}

// printSummary writes the summary table to stdout, if any row was added.
func printSummary() {
	summary.mu.Lock()
	defer summary.mu.Unlock()
	if len(summary.rows) == 0 {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n=== Summary: the design's figures, each beside its peer or floor in this run\n")
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "figure\tPlumb\tpeer / floor, same run\ttarget")
	for _, r := range summary.rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.figure, r.plumb, orDash(r.peer), orDash(r.target))
	}
	w.Flush()
	for _, l := range machine() {
		fmt.Fprintf(&sb, "  %s\n", l)
	}
	fmt.Fprint(os.Stdout, sb.String())
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
