package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

var (
	_ Pruner      = (*Bolt)(nil)
	_ Pinger      = (*Bolt)(nil)
	_ GroupLister = (*boltTx)(nil)
)

// Ping implements Pinger: the file answers a read.
func (s *Bolt) Ping(ctx context.Context) error {
	return s.View(ctx, func(tx ReadTx) error { _, err := tx.LastEventSeq(); return err })
}

// GroupNames implements GroupLister.
func (t *boltTx) GroupNames(fn func(group string) error) error {
	return t.tx.Bucket(bucketGroupBaselines).ForEachBucket(func(name []byte) error {
		return fn(string(name))
	})
}

// Sequences returns the last seq ever assigned to an event and to an
// audit record (they survive pruning), for migrate.
func (s *Bolt) Sequences(ctx context.Context) (event, audit uint64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		event = tx.Bucket(bucketEvents).Sequence()
		audit = tx.Bucket(bucketAudit).Sequence()
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read sequences: %w", err)
	}
	return event, audit, nil
}
