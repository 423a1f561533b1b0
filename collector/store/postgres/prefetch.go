package postgres

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

var _ store.Prefetcher = (*pgTx)(nil)

// prefetchChunk bounds the keys of one prefetch query (each is a
// parameter).
const prefetchChunk = 500

// Prefetch implements store.Prefetcher: in a write transaction (which
// holds the writer lock, so no one else changes these rows until it
// ends) it reads the host's rows of keys from the per-host tables into
// fetched, a few queries for a whole batch instead of several per delta.
func (t *pgTx) Prefetch(host string, keys []fact.Key) error {
	if !t.write || len(keys) == 0 {
		return nil
	}
	if t.fetched == nil {
		t.fetched = make(map[rowKey]*[]byte)
	}
	for _, tb := range []table{factsTable, baselinesTable, driftTable} {
		if t.empty[hostTable{tb.name, host}] {
			continue // every row is in written
		}
		var want [][]byte
		seen := map[string]bool{}
		for _, k := range keys {
			enc := k.Encode()
			rk := rowKey{tb.name, host, string(enc)}
			if _, ok := t.written[rk]; ok {
				continue
			}
			if _, ok := t.fetched[rk]; ok || seen[rk.k] {
				continue
			}
			seen[rk.k] = true
			want = append(want, enc)
		}
		for len(want) > 0 {
			chunk := want[:min(len(want), prefetchChunk)]
			want = want[len(chunk):]
			if err := t.fetch(tb, host, chunk); err != nil {
				return fmt.Errorf("prefetch host %q %s: %w", host, tb.what, err)
			}
		}
	}
	return nil
}

func (t *pgTx) fetch(tb table, host string, keys [][]byte) error {
	// Not a cached prepared statement: after five runs PostgreSQL may
	// switch it to a generic plan, which scans all of the host's rows for
	// an IN list it cannot see.
	args := make([]any, 0, len(keys)+2)
	args = append(args, pgx.QueryExecModeExec, []byte(host))
	var params strings.Builder
	for i, k := range keys {
		if i > 0 {
			params.WriteString(", ")
		}
		fmt.Fprintf(&params, "$%d", i+2)
		args = append(args, k)
	}
	for _, k := range keys {
		t.fetched[rowKey{tb.name, host, string(k)}] = nil // absent unless found
	}
	// Queued writes do not touch these rows' answers: written is asked
	// before fetched.
	rs, err := t.tx.Query(t.ctx, `SELECT k, v FROM `+tb.name+` WHERE host = $1 AND k IN (`+params.String()+`)`, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		var k, v []byte
		if err := rs.Scan(&k, &v); err != nil {
			return err
		}
		rk := rowKey{tb.name, host, string(k)}
		if _, asked := t.fetched[rk]; !asked {
			return fmt.Errorf("the database returned a row not asked for")
		}
		t.fetched[rk] = &v
	}
	return rs.Err()
}
