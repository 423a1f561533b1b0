package postgres

import (
	"fmt"
	"math"
	"sort"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// AppendEvent takes the next seq from the writer row, which this
// transaction holds locked: see the package doc for why the log is then
// gap-free for tailing readers.
func (t *pgTx) AppendEvent(ev *plumbv1.DriftEvent) error {
	if err := t.mustWrite("append event"); err != nil {
		return err
	}
	seq, err := nextSeq(&t.eventSeq, "event")
	if err != nil {
		return err
	}
	ev.Seq = seq
	return t.insertEvent(ev)
}

func (t *pgTx) insertEvent(ev *plumbv1.DriftEvent) error {
	v, err := proto.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event %s: %w", ev.GetId(), err)
	}
	return t.exec(fmt.Sprintf("append event %s", ev.GetId()),
		`INSERT INTO plumb_events (seq, at, v) VALUES ($1, $2, $3)`, int64(ev.Seq), ev.GetAtUnixNano(), v)
}

func (t *pgTx) EventsAfter(after uint64, limit int) ([]*plumbv1.DriftEvent, error) {
	if after >= math.MaxInt64 || limit <= 0 {
		return nil, nil
	}
	var out []*plumbv1.DriftEvent
	prev := int64(after)
	err := t.rows(`SELECT seq, v FROM plumb_events WHERE seq > $1 ORDER BY seq LIMIT $2`, []any{int64(after), int64(limit)},
		func(r pgx.Rows) error {
			var seq int64
			var v []byte
			if err := r.Scan(&seq, &v); err != nil {
				return err
			}
			if err := checkNext(seq, &prev, len(out), limit); err != nil {
				return err
			}
			ev := &plumbv1.DriftEvent{}
			if err := proto.Unmarshal(v, ev); err != nil {
				return fmt.Errorf("decode event %d: %w", seq, err)
			}
			out = append(out, ev)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// LastEventSeq reads the writer row's counter, which survives pruning.
func (t *pgTx) LastEventSeq() (uint64, error) {
	if t.write {
		return t.eventSeq, nil
	}
	var seq int64
	if err := t.tx.QueryRow(t.ctx, `SELECT event_seq FROM plumb_writer WHERE id = 1`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("last event seq: %w", err)
	}
	return u64(seq, "last event seq")
}

// Cursors keep any uint64: stored as the BIGINT of the same bits.
func (t *pgTx) Cursor(name string) (uint64, error) {
	var seq int64
	err := t.one(func() error { return nil }, `SELECT seq FROM plumb_cursors WHERE name = $1`, []any{[]byte(name)}, &seq)
	if err != nil {
		return 0, fmt.Errorf("cursor %q: %w", name, err)
	}
	return uint64(seq), nil
}

type cursorRow struct {
	name string
	seq  uint64
}

// allCursors reads every cursor (there is one per notifier and watcher:
// few) in name order.
func (t *pgTx) allCursors() ([]cursorRow, error) {
	var out []cursorRow
	err := t.rows(`SELECT name, seq FROM plumb_cursors ORDER BY name`, nil, func(r pgx.Rows) error {
		var name []byte
		var seq int64
		if err := r.Scan(&name, &seq); err != nil {
			return err
		}
		out = append(out, cursorRow{string(name), uint64(seq)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read cursors: %w", err)
	}
	// The database's order is trusted for nothing.
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func (t *pgTx) Cursors(fn func(name string, seq uint64) error) error {
	cs, err := t.allCursors()
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := fn(c.name, c.seq); err != nil {
			return err
		}
	}
	return nil
}

func (t *pgTx) SetCursor(name string, seq uint64) error {
	if name == "" {
		return fmt.Errorf("set cursor: empty name")
	}
	return t.exec(fmt.Sprintf("set cursor %q", name),
		`INSERT INTO plumb_cursors (name, seq) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET seq = EXCLUDED.seq`,
		[]byte(name), int64(seq))
}

func (t *pgTx) DeleteCursor(name string) error {
	return t.exec(fmt.Sprintf("delete cursor %q", name), `DELETE FROM plumb_cursors WHERE name = $1`, []byte(name))
}

// checkNext checks a log row read in seq order: above the previous (or
// the starting point), and no more rows than asked for.
func checkNext(seq int64, prev *int64, have, limit int) error {
	if seq <= *prev {
		return fmt.Errorf("the database returned seq %d after %d", seq, *prev)
	}
	if have >= limit {
		return fmt.Errorf("the database returned more than %d rows", limit)
	}
	*prev = seq
	return nil
}
