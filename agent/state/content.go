package state

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// Kept content (source.ContentStore): bucket content holds, for some file
// facts, the SHA-256 and the content the file source last read, so that
// it can send the next change as a diff. Its total is bounded by the
// budget the source passes; a fact's content is dropped in the
// transaction that deletes the fact. Content never enters the facts
// bucket or a resync: only the delta of a live change carries a diff.

// KeptSum implements source.ContentStore.
func (d *DB) KeptSum(k fact.Key) ([]byte, bool) {
	// Asked for every file a scan hashes: with nothing kept (every kept
	// value holds at least its sum), no transaction and no lock.
	if !d.contentKept.Load() {
		return nil, false
	}
	var sum []byte
	_ = d.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketContent).Get(k.Encode()); len(v) >= sha256.Size {
			sum = bytes.Clone(v[:sha256.Size])
		}
		return nil
	})
	return sum, sum != nil
}

// KeptContent implements source.ContentStore.
func (d *DB) KeptContent(k fact.Key) ([]byte, bool) {
	var content []byte
	ok := false
	_ = d.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketContent).Get(k.Encode()); len(v) >= sha256.Size {
			content, ok = bytes.Clone(v[sha256.Size:]), true
		}
		return nil
	})
	return content, ok
}

// KeepContent implements source.ContentStore.
func (d *DB) KeepContent(ops []source.ContentOp, budget int64) ([]bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	total := d.contentBytes
	kept := make([]bool, len(ops))
	err := d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketContent)
		total = d.contentBytes
		for i := range kept {
			kept[i] = false
		}
		for i, op := range ops {
			ek := op.Key.Encode()
			old := int64(len(b.Get(ek)))
			if old > 0 {
				if err := b.Delete(ek); err != nil {
					return err
				}
				total -= old
			}
			if op.Drop {
				continue
			}
			v := make([]byte, 0, sha256.Size+len(op.Content))
			sum := sha256.Sum256(op.Content)
			v = append(append(v, sum[:]...), op.Content...)
			if total+int64(len(v)) > budget {
				continue
			}
			if err := b.Put(ek, v); err != nil {
				return err
			}
			total += int64(len(v))
			kept[i] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("keep content: %w", err)
	}
	d.contentBytes = total
	d.contentKept.Store(total > 0)
	d.metrics.ContentBytes.Set(float64(total))
	return kept, nil
}

// unsafeDropContent drops k's kept content in tx, returning the bytes it
// freed.
func unsafeDropContent(tx *bolt.Tx, k []byte) (int64, error) {
	b := tx.Bucket(bucketContent)
	n := int64(len(b.Get(k)))
	if n == 0 {
		return 0, nil
	}
	return n, b.Delete(k)
}
