package postgres

import (
	"fmt"
	"strings"
)

// maxPendingRows bounds the per-host table rows a transaction holds
// before it sends them; rowsPerStatement the rows of one statement (each
// row is 2 to 5 parameters).
const (
	maxPendingRows   = 5000
	rowsPerStatement = 500
)

// pendingRow is the last write of one row of a per-host table in this
// transaction, not yet sent: an upsert of args (host, k, v, then the
// values of cols) or a delete (args host, k).
type pendingRow struct {
	del  bool
	cols string
	args []any
}

// queueRow records the latest write of a row; an earlier unsent write of
// the same row is replaced (only the last one matters, and one statement
// may not upsert a row twice).
func (t *pgTx) queueRow(table, host string, k []byte, r *pendingRow) {
	if t.rows_ == nil {
		t.rows_ = make(map[rowKey]*pendingRow)
	}
	rk := rowKey{table, host, string(k)}
	if _, ok := t.rows_[rk]; !ok {
		t.rowOrder = append(t.rowOrder, rk)
	}
	t.rows_[rk] = r
}

// queueRowStatements turns the pending rows into multi-row statements
// on the batch: one INSERT ... ON CONFLICT per table and column set, one
// DELETE per table, rowsPerStatement rows at a time.
func (t *pgTx) queueRowStatements() {
	if len(t.rowOrder) == 0 {
		return
	}
	type group struct {
		table, cols string
		del         bool
	}
	var order []group
	byGroup := map[group][]*pendingRow{}
	for _, rk := range t.rowOrder {
		r := t.rows_[rk]
		g := group{rk.table, r.cols, r.del}
		if _, ok := byGroup[g]; !ok {
			order = append(order, g)
		}
		byGroup[g] = append(byGroup[g], r)
	}
	t.rows_, t.rowOrder = nil, nil
	if t.queued == nil {
		t.queued = newBatch()
	}
	for _, g := range order {
		rows := byGroup[g]
		for len(rows) > 0 {
			chunk := rows[:min(len(rows), rowsPerStatement)]
			rows = rows[len(chunk):]
			sql, args := rowStatement(g.table, g.cols, g.del, chunk)
			t.queued.Queue(sql, args...)
		}
	}
}

func rowStatement(table, cols string, del bool, rows []*pendingRow) (string, []any) {
	var b strings.Builder
	var args []any
	tuple := func(r *pendingRow) {
		b.WriteByte('(')
		for i, a := range r.args {
			if i > 0 {
				b.WriteString(", ")
			}
			args = append(args, a)
			fmt.Fprintf(&b, "$%d", len(args))
		}
		b.WriteByte(')')
	}
	if del {
		b.WriteString(`DELETE FROM ` + table + ` WHERE (host, k) IN (`)
		for i, r := range rows {
			if i > 0 {
				b.WriteString(", ")
			}
			tuple(r)
		}
		b.WriteByte(')')
		return b.String(), args
	}
	colList, sets := "host, k, v", "v = EXCLUDED.v"
	for _, c := range splitCols(cols) {
		colList += ", " + c
		sets += ", " + c + " = EXCLUDED." + c
	}
	b.WriteString(`INSERT INTO ` + table + ` (` + colList + `) VALUES `)
	for i, r := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		tuple(r)
	}
	b.WriteString(` ON CONFLICT (host, k) DO UPDATE SET ` + sets)
	return b.String(), args
}
