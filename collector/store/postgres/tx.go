package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/plumb-dev/plumb/collector/store"
)

// pageSize is how many rows one query of an iteration reads.
const pageSize = 512

// pgTx implements store.Tx (and store.ReadTx in a View) over one SQL
// transaction.
type pgTx struct {
	ctx   context.Context
	tx    pgx.Tx
	write bool

	// In an Update: the counters of the writer row, as read under its lock
	// and advanced by this transaction; saved before commit if changed.
	eventSeq, auditSeq  uint64
	loadedEv, loadedAud uint64
}

var (
	_ store.Tx          = (*pgTx)(nil)
	_ store.ImportTx    = (*pgTx)(nil)
	_ store.GroupLister = (*pgTx)(nil)
)

// lockWriter takes the writer lock (see the package doc) and reads the
// counters it guards.
func (t *pgTx) lockWriter() error {
	var ev, aud int64
	if err := t.tx.QueryRow(t.ctx, `SELECT event_seq, audit_seq FROM plumb_writer WHERE id = 1 FOR UPDATE`).Scan(&ev, &aud); err != nil {
		return fmt.Errorf("take the writer lock: %w", err)
	}
	if ev < 0 || aud < 0 {
		return fmt.Errorf("take the writer lock: negative counters %d, %d", ev, aud)
	}
	t.eventSeq, t.auditSeq = uint64(ev), uint64(aud)
	t.loadedEv, t.loadedAud = t.eventSeq, t.auditSeq
	return nil
}

func (t *pgTx) saveCounters() error {
	if t.eventSeq == t.loadedEv && t.auditSeq == t.loadedAud {
		return nil
	}
	if _, err := t.tx.Exec(t.ctx, `UPDATE plumb_writer SET event_seq = $1, audit_seq = $2 WHERE id = 1`,
		int64(t.eventSeq), int64(t.auditSeq)); err != nil {
		return fmt.Errorf("save sequences: %w", err)
	}
	return nil
}

// nextSeq advances a counter, refusing to pass what BIGINT holds.
func nextSeq(c *uint64, what string) (uint64, error) {
	if *c >= math.MaxInt64 {
		return 0, fmt.Errorf("append %s: sequence exhausted", what)
	}
	*c++
	return *c, nil
}

func (t *pgTx) mustWrite(what string) error {
	if !t.write {
		return fmt.Errorf("%s: read-only transaction", what)
	}
	return nil
}

func (t *pgTx) exec(what, sql string, args ...any) error {
	if err := t.mustWrite(what); err != nil {
		return err
	}
	if _, err := t.tx.Exec(t.ctx, sql, args...); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// one reads a single row into dest; a missing row is notFound.
func (t *pgTx) one(notFound func() error, sql string, args []any, dest ...any) error {
	err := t.tx.QueryRow(t.ctx, sql, args...).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound()
	}
	return err
}

// rows runs a query and calls scan for each row while the rows are open;
// scan must not use the transaction.
func (t *pgTx) rows(sql string, args []any, scan func(pgx.Rows) error) error {
	rs, err := t.tx.Query(t.ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		if err := scan(rs); err != nil {
			return err
		}
	}
	return rs.Err()
}

// pages runs a keyset-paged iteration: fetch reads up to pageSize items
// after last (nil: from the start); fn is called for each item after the
// page's rows are closed, so fn may use the transaction.
func pages[T any](fetch func(last *T) ([]T, error), fn func(T) error) error {
	var last *T
	for {
		items, err := fetch(last)
		if err != nil {
			return err
		}
		for _, it := range items {
			if err := fn(it); err != nil {
				return err
			}
		}
		if len(items) < pageSize {
			return nil
		}
		last = &items[len(items)-1]
	}
}

// u64 checks a BIGINT read from the database for use as a uint64.
func u64(v int64, what string) (uint64, error) {
	if v < 0 {
		return 0, fmt.Errorf("%s: negative value %d in the database", what, v)
	}
	return uint64(v), nil
}

// limit is pageSize in SQL.
var limit = strconv.Itoa(pageSize)
