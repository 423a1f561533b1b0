package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// pruneBatch bounds how many events one pruning transaction deletes, so
// that pruning a large backlog does not hold the writer for long.
const pruneBatch = 10000

func (t *boltTx) AppendEvent(ev *plumbv1.DriftEvent) error {
	b := t.tx.Bucket(bucketEvents)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	ev.Seq = seq
	v, err := proto.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event %s: %w", ev.GetId(), err)
	}
	if err := b.Put(be64(seq), v); err != nil {
		return fmt.Errorf("append event %s: %w", ev.GetId(), err)
	}
	return nil
}

func (t *boltTx) EventsAfter(after uint64, limit int) ([]*plumbv1.DriftEvent, error) {
	if after == ^uint64(0) || limit <= 0 {
		return nil, nil
	}
	var out []*plumbv1.DriftEvent
	c := t.tx.Bucket(bucketEvents).Cursor()
	for k, v := c.Seek(be64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		ev := &plumbv1.DriftEvent{}
		if err := proto.Unmarshal(v, ev); err != nil {
			return nil, fmt.Errorf("decode event %d: %w", binary.BigEndian.Uint64(k), err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// LastEventSeq reads the bucket's sequence, which survives pruning.
func (t *boltTx) LastEventSeq() (uint64, error) {
	return t.tx.Bucket(bucketEvents).Sequence(), nil
}

func (t *boltTx) Cursor(name string) (uint64, error) {
	v := t.tx.Bucket(bucketCursors).Get([]byte(name))
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("cursor %q: %d bytes, want 8", name, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func (t *boltTx) Cursors(fn func(name string, seq uint64) error) error {
	return t.tx.Bucket(bucketCursors).ForEach(func(k, v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("cursor %q: %d bytes, want 8", k, len(v))
		}
		return fn(string(k), binary.BigEndian.Uint64(v))
	})
}

func (t *boltTx) SetCursor(name string, seq uint64) error {
	if name == "" {
		return fmt.Errorf("set cursor: empty name")
	}
	if err := t.tx.Bucket(bucketCursors).Put([]byte(name), be64(seq)); err != nil {
		return fmt.Errorf("set cursor %q: %w", name, err)
	}
	return nil
}

func (t *boltTx) DeleteCursor(name string) error {
	if err := t.tx.Bucket(bucketCursors).Delete([]byte(name)); err != nil {
		return fmt.Errorf("delete cursor %q: %w", name, err)
	}
	return nil
}

// Prune bounds the history: it deletes events that are older than
// Options.EventRetention at now and at or below every cursor (with no
// cursor, age alone decides), and audit records and fact history entries
// older than EventRetention. The collector calls it hourly and logs the
// count it returns.
func (s *Bolt) Prune(ctx context.Context, now time.Time) (int, error) {
	cutoff := now.Add(-s.opts.EventRetention).UnixNano()
	total := 0
	for _, prune := range []func(*bolt.Tx, int64, int) (int, bool, error){pruneEvents, pruneAudit, pruneFactHistory} {
		n, err := s.pruneWith(ctx, cutoff, prune)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// pruneWith runs prune in transactions of pruneBatch deletions until it
// has no more to delete.
func (s *Bolt) pruneWith(ctx context.Context, cutoff int64, prune func(*bolt.Tx, int64, int) (int, bool, error)) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, more := 0, false
		err := s.db.Update(func(tx *bolt.Tx) error {
			var err error
			n, more, err = prune(tx, cutoff, pruneBatch)
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
	return total, nil
}

// pruneEvents deletes up to limit events from the start of the log that
// are older than cutoff and at or below every cursor. more reports that
// it stopped at the limit rather than at an event to keep.
func pruneEvents(tx *bolt.Tx, cutoff int64, limit int) (n int, more bool, err error) {
	bound := ^uint64(0)
	err = tx.Bucket(bucketCursors).ForEach(func(name, v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("cursor %q: %d bytes, want 8", name, len(v))
		}
		bound = min(bound, binary.BigEndian.Uint64(v))
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	c := tx.Bucket(bucketEvents).Cursor()
	for k, v := c.First(); k != nil; k, v = c.First() {
		if n == limit {
			return n, true, nil
		}
		if binary.BigEndian.Uint64(k) > bound {
			return n, false, nil
		}
		ev := &plumbv1.DriftEvent{}
		if err := proto.Unmarshal(v, ev); err != nil {
			return n, false, fmt.Errorf("decode event %d: %w", binary.BigEndian.Uint64(k), err)
		}
		if ev.GetAtUnixNano() >= cutoff {
			return n, false, nil
		}
		if err := c.Delete(); err != nil {
			return n, false, err
		}
		n++
	}
	return n, false, nil
}
