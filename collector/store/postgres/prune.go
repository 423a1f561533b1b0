package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plumb-dev/plumb/collector/store"
)

// pruneBatch bounds how many rows one pruning transaction deletes, so
// that pruning a large backlog does not hold the writer lock for long.
const pruneBatch = 10000

// Prune implements store.Pruner with the bbolt backend's rules: events
// from the start of the log that are older than the retention and at or
// below every cursor, then audit records from the start of their log
// older than the retention, then fact history entries older than it.
// Each batch runs under the writer lock, as every write does.
func (s *Store) Prune(ctx context.Context, now time.Time) (int, error) {
	cutoff := now.Add(-s.opts.EventRetention).UnixNano()
	total := 0
	for _, prune := range []func(*pgTx, int64) (int, bool, error){pruneEvents, pruneAudit, pruneFactHistory} {
		for {
			n, more := 0, false
			err := s.Update(ctx, func(tx store.Tx) error {
				var err error
				n, more, err = prune(tx.(*pgTx), cutoff)
				return err
			})
			if err != nil {
				return total, fmt.Errorf("prune history: %w", err)
			}
			total += n
			if !more {
				break
			}
		}
	}
	return total, nil
}

// prunePrefix deletes the first rows of a log (by seq) that are older
// than cutoff and at or below bound, up to pruneBatch of them, stopping
// at the first row to keep. more reports that it stopped at the batch
// limit.
func (t *pgTx) prunePrefix(table string, cutoff int64, bound uint64) (n int, more bool, err error) {
	var last int64
	stopped := false
	err = t.rows(`SELECT seq, at FROM `+table+` ORDER BY seq LIMIT `+fmt.Sprint(pruneBatch), nil, func(r pgx.Rows) error {
		var seq, at int64
		if err := r.Scan(&seq, &at); err != nil {
			return err
		}
		if stopped || at >= cutoff || seq < 0 || uint64(seq) > bound {
			stopped = true
			return nil
		}
		n++
		last = seq
		return nil
	})
	if err != nil || n == 0 {
		return 0, false, err
	}
	if _, err := t.tx.Exec(t.ctx, `DELETE FROM `+table+` WHERE seq <= $1`, last); err != nil {
		return 0, false, err
	}
	return n, !stopped && n == pruneBatch, nil
}

func pruneEvents(t *pgTx, cutoff int64) (int, bool, error) {
	cs, err := t.allCursors()
	if err != nil {
		return 0, false, err
	}
	bound := ^uint64(0)
	for _, c := range cs {
		bound = min(bound, c.seq)
	}
	return t.prunePrefix("plumb_events", cutoff, bound)
}

func pruneAudit(t *pgTx, cutoff int64) (int, bool, error) {
	return t.prunePrefix("plumb_audit", cutoff, ^uint64(0))
}

func pruneFactHistory(t *pgTx, cutoff int64) (int, bool, error) {
	tag, err := t.tx.Exec(t.ctx, `DELETE FROM plumb_fact_history WHERE (host, at, k) IN (
		SELECT host, at, k FROM plumb_fact_history WHERE at < $1 LIMIT `+fmt.Sprint(pruneBatch)+`)`, cutoff)
	if err != nil {
		return 0, false, err
	}
	n := int(tag.RowsAffected())
	return n, n == pruneBatch, nil
}
