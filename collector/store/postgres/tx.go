package postgres

import (
	"bytes"
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

	// Writes are sent in pipelined batches (one round trip for many)
	// rather than one at a time: queued holds those not sent yet. Every
	// query but a point read flushes them first. A point read of the
	// per-host tables answers from written (this transaction's own
	// latest value of each key it wrote) when it can, and from nothing at
	// all when the host had no rows in that table at its first read
	// (empty): a new host's first snapshot then costs no reads.
	queued  *pgx.Batch
	written map[rowKey]*[]byte // nil value: deleted
	empty   map[hostTable]bool // the host's rows in the table are all in written
	// fetched holds rows read ahead by Prefetch (nil value: absent); what
	// written says of a row comes first.
	fetched map[rowKey]*[]byte
	// rows_ are the per-host tables' writes not sent yet, in rowOrder
	// (see rowbatch.go).
	rows_    map[rowKey]*pendingRow
	rowOrder []rowKey
}

// rowKey names one row of a per-host table; hostTable one host's part of
// such a table.
type (
	rowKey    struct{ table, host, k string }
	hostTable struct{ table, host string }
)

// maxQueued bounds the writes one batch carries.
const maxQueued = 1000

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

// finish saves the counters if changed and sends the last writes, before
// commit.
func (t *pgTx) finish() error {
	if t.eventSeq != t.loadedEv || t.auditSeq != t.loadedAud {
		if err := t.exec("save sequences", `UPDATE plumb_writer SET event_seq = $1, audit_seq = $2 WHERE id = 1`,
			int64(t.eventSeq), int64(t.auditSeq)); err != nil {
			return err
		}
	}
	return t.flush()
}

// flush sends the queued writes in one round trip and checks each.
func (t *pgTx) flush() error {
	t.queueRowStatements()
	if t.queued == nil || t.queued.Len() == 0 {
		return nil
	}
	b := t.queued
	t.queued = nil
	br := t.tx.SendBatch(t.ctx, b)
	var first error
	for _, q := range b.QueuedQueries {
		if _, err := br.Exec(); err != nil && first == nil {
			first = fmt.Errorf("%s: %w", q.SQL[:min(len(q.SQL), 60)], err)
		}
	}
	if err := br.Close(); err != nil && first == nil {
		first = err
	}
	if first != nil {
		return fmt.Errorf("write: %w", first)
	}
	return nil
}

// wrote records this transaction's latest value of a per-host row (nil:
// deleted).
func (t *pgTx) wrote(table, host string, k []byte, v []byte) {
	if t.written == nil {
		t.written = make(map[rowKey]*[]byte)
	}
	key := rowKey{table, host, string(k)}
	if v == nil {
		t.written[key] = nil
		return
	}
	t.written[key] = &v
}

// pointRead answers a read of one per-host row without the database
// when this transaction knows it: found reports whether it did, v is nil
// for a missing row.
func (t *pgTx) pointRead(table, host string, k []byte) (v []byte, found bool, err error) {
	if !t.write {
		return nil, false, nil
	}
	if p, ok := t.written[rowKey{table, host, string(k)}]; ok {
		if p == nil {
			return nil, true, nil
		}
		return *p, true, nil
	}
	if p, ok := t.fetched[rowKey{table, host, string(k)}]; ok {
		if p == nil {
			return nil, true, nil
		}
		return *p, true, nil
	}
	ht := hostTable{table, host}
	known, ok := t.empty[ht]
	if !ok {
		// The first read of this host's part of the table in this
		// transaction: are there rows besides those it wrote?
		if err := t.flush(); err != nil {
			return nil, false, err
		}
		var n int64
		if err := t.tx.QueryRow(t.ctx, `SELECT count(*) FROM (SELECT 1 FROM `+table+` WHERE host = $1 LIMIT 1) AS one`, []byte(host)).Scan(&n); err != nil {
			return nil, false, err
		}
		// No rows: every row this host gets in the table from here on is
		// one this transaction writes, and so in written.
		known = n == 0
		if t.empty == nil {
			t.empty = make(map[hostTable]bool)
		}
		t.empty[ht] = known
	}
	if known {
		return nil, true, nil
	}
	return nil, false, nil
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

// exec queues a write; its error, if any, comes from the next flush (at
// the latest, before commit: the Update then fails whole).
func (t *pgTx) exec(what, sql string, args ...any) error {
	if err := t.mustWrite(what); err != nil {
		return err
	}
	if t.queued == nil {
		t.queued = newBatch()
	}
	t.queued.Queue(sql, args...)
	if t.queued.Len() >= maxQueued {
		return t.flush()
	}
	return nil
}

// one reads a single row into dest; a missing row is notFound.
func (t *pgTx) one(notFound func() error, sql string, args []any, dest ...any) error {
	if err := t.flush(); err != nil {
		return err
	}
	err := t.tx.QueryRow(t.ctx, sql, args...).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound()
	}
	return err
}

// rows runs a query and calls scan for each row while the rows are open;
// scan must not use the transaction.
func (t *pgTx) rows(sql string, args []any, scan func(pgx.Rows) error) error {
	if err := t.flush(); err != nil {
		return err
	}
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
// page's rows are closed, so fn may use the transaction. before tells the
// iteration's order: rows that do not come strictly after the previous
// one are an error, so a misbehaving database cannot make the paging
// loop for ever.
func pages[T any](fetch func(last *T) ([]T, error), fn func(T) error, before func(a, b *T) bool) error {
	var last *T
	for {
		items, err := fetch(last)
		if err != nil {
			return err
		}
		if len(items) > pageSize {
			return errors.New("the database returned more rows than asked for")
		}
		for i := range items {
			if last != nil && !before(last, &items[i]) {
				return errors.New("the database returned rows out of order")
			}
			last = &items[i]
		}
		for _, it := range items {
			if err := fn(it); err != nil {
				return err
			}
		}
		if len(items) < pageSize {
			return nil
		}
	}
}

// byK orders rows by their key column.
func byK(a, b *kv) bool { return bytes.Compare(a.k, b.k) < 0 }

// u64 checks a BIGINT read from the database for use as a uint64.
func u64(v int64, what string) (uint64, error) {
	if v < 0 {
		return 0, fmt.Errorf("%s: negative value %d in the database", what, v)
	}
	return uint64(v), nil
}

// limit is pageSize in SQL.
var limit = strconv.Itoa(pageSize)

func newBatch() *pgx.Batch { return &pgx.Batch{} }
