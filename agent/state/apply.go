package state

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factwire"
)

// Apply records changes in one transaction: each fact whose digest differs
// from the stored one is stored and gets a sequenced delta in the spool.
// An upsert with an unchanged digest (a touch, a same-content rewrite)
// refreshes the stored volatile attributes, for the stat fast path, and
// sends nothing. Deleting an unknown fact is a no-op. It returns the number
// of deltas spooled. On error (a full disk, say) nothing is recorded and
// the caller retries.
func (d *DB) Apply(changes []source.Op) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	order, keys := inKeyOrder(changes)
	cur := d.cur
	seq, n, facts, cps := d.seq, 0, d.facts, 0
	var added, contentFreed int64
	err := d.db.Update(func(tx *bolt.Tx) error {
		fb, sb := tx.Bucket(bucketFacts), tx.Bucket(bucketSpool)
		// The spool only grows at its end (keys are increasing seqs):
		// pages filled full, not to bbolt's default half, which suits
		// inserts anywhere.
		sb.FillPercent = 0.95
		spool := func(e *entry) error {
			seq++
			e.delta.Seq = seq
			v, err := e.encode()
			if err != nil {
				return err
			}
			added += int64(len(v))
			n++
			return sb.Put(u64(seq), v)
		}
		// Facts are written in key order; their deltas are spooled
		// after, in the order of changes (sequence numbers as reported).
		staged := make([]*entry, len(changes))
		stage := func(i int, base []byte, delta *plumbv1.Delta, factBytes []byte) error {
			staged[i] = &entry{base: base, delta: delta, factBytes: factBytes}
			return nil
		}
		for _, i := range order {
			c, ek := changes[i], keys[i]
			switch {
			case c.Upsert != nil:
				f := c.Upsert
				k := fact.KeyOf(f)
				prev, err := storedFact(fb.Get(ek))
				if err != nil {
					return err
				}
				if unchanged(prev, f) {
					continue
				}
				// The content change rides on the delta only: a stored
				// fact, and so a resync, never carries one.
				stored := withoutContent(f)
				v, err := factwire.Marshal(stored)
				if err != nil {
					return err
				}
				var factBytes []byte // f's encoding, for its delta
				if stored == f {
					factBytes = v
				}
				if err := fb.Put(ek, v); err != nil {
					return err
				}
				old := prev.GetDigest()
				if prev != nil && bytes.Equal(old, f.GetDigest()) {
					continue
				}
				if old == nil {
					facts++
				}
				cur.Replace(k, old, f.GetDigest())
				if err := stage(i, old, &plumbv1.Delta{
					Op:               plumbv1.DeltaOp_DELTA_OP_UPSERT,
					Fact:             f,
					ObservedUnixNano: f.GetObservedUnixNano(),
					PackageChange:    boundChange(f, c.Change),
				}, factBytes); err != nil {
					return err
				}
			case c.Delete != nil:
				k := *c.Delete
				prev, err := storedFact(fb.Get(ek))
				if err != nil {
					return err
				}
				if prev == nil {
					continue
				}
				old := prev.GetDigest()
				if err := fb.Delete(ek); err != nil {
					return err
				}
				freed, err := unsafeDropContent(tx, ek)
				if err != nil {
					return err
				}
				contentFreed += freed
				facts--
				cur.Remove(k, old)
				if err := stage(i, old, &plumbv1.Delta{
					Op:               plumbv1.DeltaOp_DELTA_OP_DELETE,
					Fact:             &plumbv1.Fact{Kind: k.Kind, Key: []byte(k.ID)},
					ObservedUnixNano: time.Now().UnixNano(),
				}, nil); err != nil {
					return err
				}
			case c.Checkpoint:
				cps++
				if err := stage(i, nil, &plumbv1.Delta{
					Op:               plumbv1.DeltaOp_DELTA_OP_CHECKPOINT,
					SetDigest:        cur.Sum(),
					FactCount:        facts,
					ObservedUnixNano: time.Now().UnixNano(),
				}, nil); err != nil {
					return err
				}
			}
		}
		for _, e := range staged {
			if e != nil {
				if err := spool(e); err != nil {
					return err
				}
			}
		}
		if n == 0 {
			return nil // nor have the digest and count changed
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keySetDigest, encodeSetDigest(seq, facts, &cur)); err != nil {
			return err
		}
		return meta.Put(keySeq, u64(seq))
	})
	if err != nil {
		d.metrics.ApplyErrors.Inc()
		return 0, fmt.Errorf("record changes: %w", err)
	}
	d.cur, d.seq, d.facts = cur, seq, facts
	d.spoolBytes += added
	if contentFreed > 0 {
		d.contentBytes -= contentFreed
		d.contentKept.Store(d.contentBytes > 0)
		d.metrics.ContentBytes.Set(float64(d.contentBytes))
	}
	defer d.trimMapped()
	d.spoolLen += n
	d.spoolCheckpoints += cps
	d.metrics.setSpool(d.spoolLen, d.spoolBytes)
	if n > 0 {
		d.metrics.Spooled.Add(float64(n))
		if d.spoolBytes > max(d.limit, d.shrinkAt) {
			d.shrinkLocked()
		}
		d.kick()
	}
	return n, nil
}

// inKeyOrder returns the order in which Apply writes facts, and their
// encoded keys: sorted by key within each stretch between checkpoints,
// stably, so that two changes of one key keep their order and nothing
// crosses a checkpoint (changes of different keys commute). bbolt then
// writes each batch of facts as one sorted run, whatever order a scan
// reported them in (a directory lists in the filesystem's order).
func inKeyOrder(changes []source.Op) ([]int, [][]byte) {
	keys := make([][]byte, len(changes))
	order := make([]int, len(changes))
	start := 0
	for i, c := range changes {
		order[i] = i
		switch {
		case c.Upsert != nil:
			keys[i] = append([]byte{byte(c.Upsert.GetKind())}, c.Upsert.GetKey()...)
		case c.Delete != nil:
			keys[i] = c.Delete.Encode()
		case c.Checkpoint:
			sortRun(order[start:i], keys)
			start = i + 1
		}
	}
	sortRun(order[start:], keys)
	return order, keys
}

func sortRun(run []int, keys [][]byte) {
	slices.SortStableFunc(run, func(a, b int) int { return bytes.Compare(keys[a], keys[b]) })
}

// unchanged reports whether storing f over prev would change nothing that
// matters: same attributes, volatile ones included, and prev is settled
// (source.Settled), so an unchanged rescan writes nothing.
func unchanged(prev, f *plumbv1.Fact) bool {
	if prev == nil || !source.Settled(prev) {
		return false
	}
	observed := f.ObservedUnixNano
	f.ObservedUnixNano = prev.GetObservedUnixNano()
	same := proto.Equal(prev, f)
	f.ObservedUnixNano = observed
	return same
}

// withoutContent returns f without its content change (a copy if it had
// one).
func withoutContent(f *plumbv1.Fact) *plumbv1.Fact {
	if f.GetFile().GetContent() == nil {
		return f
	}
	c := proto.CloneOf(f)
	c.GetFile().Content = nil
	return c
}

// storedFact decodes a stored fact; nil (absent) gives nil.
func storedFact(v []byte) (*plumbv1.Fact, error) {
	if v == nil {
		return nil, nil
	}
	f, err := decodeFact(v)
	if err != nil {
		return nil, fmt.Errorf("stored fact: %w", err)
	}
	return f, nil
}

// Lookup returns the stored value of k.
func (d *DB) Lookup(k fact.Key) (*plumbv1.Fact, bool) {
	var f *plumbv1.Fact
	_ = d.db.View(func(tx *bolt.Tx) error {
		f, _ = storedFact(tx.Bucket(bucketFacts).Get(k.Encode()))
		return nil
	})
	return f, f != nil
}

// LookupAll sets out[i] to the stored value of keys[i], or nil, in one
// read transaction (source.BatchRecorder). Safe from any goroutine.
func (d *DB) LookupAll(keys []fact.Key, out []*plumbv1.Fact) {
	_ = d.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFacts)
		var buf []byte
		for i, k := range keys {
			buf = append(append(buf[:0], byte(k.Kind)), k.ID...) // k.Encode()
			out[i], _ = storedFact(b.Get(buf))
		}
		return nil
	})
}

// Facts calls fn for each stored fact of kind whose key starts with
// prefix, in key order. fn must not call back into d.
func (d *DB) Facts(kind plumbv1.FactKind, prefix string, fn func(*plumbv1.Fact) error) error {
	defer d.trimMapped()
	return d.db.View(func(tx *bolt.Tx) error {
		p := fact.Key{Kind: kind, ID: prefix}.Encode()
		c := tx.Bucket(bucketFacts).Cursor()
		kc := keyCounter{db: d.db, tx: tx}
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			kc.tick()
			f, err := decodeFact(v)
			if err != nil {
				return fmt.Errorf("stored fact %q: %w", k, err)
			}
			if err := fn(f); err != nil {
				return err
			}
		}
		return nil
	})
}

// Keys calls fn for the key of each stored fact of kind whose key starts
// with prefix, in key order, without decoding the facts
// (source.KeyLister). fn must not call back into d.
func (d *DB) Keys(kind plumbv1.FactKind, prefix string, fn func(fact.Key) error) error {
	defer d.trimMapped()
	return d.db.View(func(tx *bolt.Tx) error {
		p := fact.Key{Kind: kind, ID: prefix}.Encode()
		c := tx.Bucket(bucketFacts).Cursor()
		kc := keyCounter{db: d.db, tx: tx}
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			kc.tick()
			key, err := fact.DecodeKey(k)
			if err != nil {
				return fmt.Errorf("stored fact %q: %w", k, err)
			}
			if err := fn(key); err != nil {
				return err
			}
		}
		return nil
	})
}

var _ source.KeyLister = (*DB)(nil)

var _ source.EmptyChecker = (*DB)(nil)

// StoresUnder reports whether any fact of kind is stored with a key that
// starts with prefix (source.EmptyChecker): one seek.
func (d *DB) StoresUnder(kind plumbv1.FactKind, prefix string) (bool, error) {
	var found bool
	err := d.db.View(func(tx *bolt.Tx) error {
		p := fact.Key{Kind: kind, ID: prefix}.Encode()
		k, _ := tx.Bucket(bucketFacts).Cursor().Seek(p)
		found = k != nil && bytes.HasPrefix(k, p)
		return nil
	})
	return found, err
}

// Checkpoint spools a checkpoint: the collector compares its set digest
// with the one recorded here once it has applied everything before it.
func (d *DB) Checkpoint() error {
	_, err := d.Apply([]source.Op{{Checkpoint: true}})
	return err
}
