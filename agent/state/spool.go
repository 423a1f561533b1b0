package state

import (
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// Pending returns up to limit spooled deltas with Seq > after, in order.
func (d *DB) Pending(after uint64, limit int) ([]*plumbv1.Delta, error) {
	var out []*plumbv1.Delta
	err := d.pending(after, limit, func(_ uint64, v []byte) error {
		e, err := decodeEntry(v)
		if err != nil {
			return err
		}
		out = append(out, e.delta)
		return nil
	})
	return out, err
}

// WireDelta is a spooled delta as the spool holds it: its seq and its
// plumb.v1.Delta encoding, ready to be sent without decoding it.
type WireDelta struct {
	Seq   uint64
	Bytes []byte
}

// PendingWire is Pending, each delta in its encoding (a copy): the stream
// sends spooled deltas as they are stored, where decoding and encoding
// them again was a twelfth of the agent's CPU in a first scan.
func (d *DB) PendingWire(after uint64, limit int) ([]WireDelta, error) {
	var out []WireDelta
	err := d.pending(after, limit, func(seq uint64, v []byte) error {
		b, err := entryDelta(v)
		if err != nil {
			return err
		}
		out = append(out, WireDelta{Seq: seq, Bytes: slices.Clone(b)})
		return nil
	})
	return out, err
}

// pending calls fn with the seq and stored entry of up to limit spooled
// deltas with Seq > after, in order, and records the last as sent. It
// holds the lock so that compaction, which must know what may have been
// sent, never runs between reading and recording it.
func (d *DB) pending(after uint64, limit int, fn func(seq uint64, entry []byte) error) error {
	defer d.trimMapped()
	d.mu.Lock()
	defer d.mu.Unlock()
	var last uint64
	err := d.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketSpool).Cursor()
		n := 0
		for k, v := c.Seek(u64(after + 1)); k != nil && n < limit; k, v = c.Next() {
			seq := getU64(k)
			if err := fn(seq, v); err != nil {
				return fmt.Errorf("spool entry %d: %w", seq, err)
			}
			last, n = seq, n+1
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.sent = max(d.sent, last)
	return nil
}

// Ack records that the collector durably applied every delta up to seq:
// their spool entries go, and the acked digest moves forward.
func (d *DB) Ack(seq uint64) error {
	defer d.trimMapped()
	d.mu.Lock()
	defer d.mu.Unlock()
	if seq > d.seq {
		// Only numbers this agent assigned can be acknowledged.
		return fmt.Errorf("%w: ack of seq %d, last assigned %d", ErrPeerAhead, seq, d.seq)
	}
	resync, err := d.ackLocked(seq)
	if resync {
		// The checkpoint the dirty buckets waited for is applied: a new
		// handshake resyncs them.
		d.askResync()
	}
	return err
}

// ackLocked reports whether it acknowledged the last pending checkpoint
// while dirty buckets wait for a resync.
func (d *DB) ackLocked(seq uint64) (resync bool, err error) {
	if seq <= d.lastAcked && d.spoolLen == 0 {
		return false, nil
	}
	acked := d.acked
	var freed int64
	var n, cps int
	err = d.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketSpool).Cursor()
		for k, v := c.First(); k != nil && getU64(k) <= seq; k, v = c.First() {
			e, err := decodeEntryDigests(v)
			if err != nil {
				return fmt.Errorf("spool entry %d: %w", getU64(k), err)
			}
			if _, keyed := e.factKey(); !keyed {
				cps++
			}
			e.apply(&acked)
			freed += int64(len(v))
			n++
			if err := c.Delete(); err != nil {
				return err
			}
		}
		if cps > 0 && !d.checkpointAcked {
			if err := tx.Bucket(bucketMeta).Put(keyCheckpointAcked, []byte{1}); err != nil {
				return err
			}
		}
		if seq > d.lastAcked {
			return tx.Bucket(bucketMeta).Put(keyAckedSeq, u64(seq))
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("record ack %d: %w", seq, err)
	}
	d.acked = acked
	if seq > d.lastAcked {
		d.lastAcked = seq
	}
	d.spoolBytes -= freed
	d.spoolLen -= n
	if d.spoolBytes <= d.limit {
		d.shrinkAt = 0 // back under the limit: the next time over it shrinks at once
	}
	d.spoolCheckpoints -= cps
	d.checkpointAcked = d.checkpointAcked || cps > 0
	d.metrics.Acked.Add(float64(n))
	d.metrics.setSpool(d.spoolLen, d.spoolBytes)
	return cps > 0 && d.spoolCheckpoints == 0 && !d.dirty.empty(), nil
}

// Status is where the state stands, for the handshake and for logs.
type Status struct {
	Seq         uint64 // last sequence number assigned
	AckedSeq    uint64
	Facts       uint64
	SpoolLen    int
	SpoolBytes  int64
	Digest      []byte // of every fact
	AckedDigest []byte // of the collector's expected state
}

// Status returns the current counters and digests.
func (d *DB) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Status{
		Seq: d.seq, AckedSeq: d.lastAcked, Facts: d.facts,
		SpoolLen: d.spoolLen, SpoolBytes: d.spoolBytes,
		Digest: d.cur.Sum(), AckedDigest: d.acked.Sum(),
	}
}

// ErrPeerAhead is returned when the collector names a sequence number this
// agent cannot accept: an ack above its last assigned number, or a
// welcome's applied number beyond fact.SeqWindow above it. Nothing is
// changed; the caller ends the session and retries later.
var ErrPeerAhead = errors.New("collector's sequence number is out of range")

// Resume takes the collector's applied sequence from a welcome and returns
// the buckets whose contents differ from the collector's (theirs, indexed
// by bucket). Everything up to applied counts as acknowledged. If the
// collector has applied numbers this agent never assigned (its state was
// lost or restored from an older copy), numbering continues above them
// and the bucket comparison repairs the difference.
func (d *DB) Resume(applied uint64, theirs [][]byte) ([]uint32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !fact.SeqWithin(d.seq, applied) {
		// Adopting it would put this agent's counter within reach of
		// wrapping, and every later delta out of the collector's window.
		return nil, fmt.Errorf("%w: collector applied seq %d, %d above this agent's %d (window %d)",
			ErrPeerAhead, applied, applied-d.seq, d.seq, fact.SeqWindow)
	}
	if applied > d.seq {
		d.logger.Warn("collector is ahead of this agent's sequence; continuing above it",
			"agent_seq", d.seq, "collector_applied", applied)
		err := d.db.Update(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if err := meta.Put(keySetDigest, encodeSetDigest(applied, d.facts, &d.cur)); err != nil {
				return err
			}
			return meta.Put(keySeq, u64(applied))
		})
		if err != nil {
			return nil, fmt.Errorf("advance sequence: %w", err)
		}
		d.seq = applied
	}
	// Dirty buckets are resynced below if nothing pending holds them back.
	if _, err := d.ackLocked(applied); err != nil {
		return nil, err
	}
	diff := d.acked.DiffBuckets(theirs)
	if d.dirty.empty() {
		return diff, nil
	}
	// Dirty buckets wait until no checkpoint is pending: resyncing one
	// now would carry its current facts to before the checkpoint.
	out := diff[:0]
	for _, b := range diff {
		if !d.dirty.has(b) {
			out = append(out, b)
		}
	}
	if d.spoolCheckpoints == 0 {
		out = append(out, d.dirty.buckets()...)
		slices.Sort(out)
	}
	return out, nil
}

// ResyncBuckets returns the stored facts of each bucket in bs, by bucket,
// and in the same transaction drops the spooled deltas for those buckets
// (the snapshots carry their effect) and sets their acked digests to the
// current ones. One pass over the facts and the spool serves every bucket
// asked for; callers bound memory by asking for a group at a time.
func (d *DB) ResyncBuckets(bs []uint32) (map[uint32][]*plumbv1.Fact, error) {
	defer d.trimMapped()
	d.mu.Lock()
	defer d.mu.Unlock()
	want := make(map[uint32]bool, len(bs))
	acked, dirty := d.acked, d.dirty
	for _, b := range bs {
		if err := acked.ResetBucket(b); err != nil {
			return nil, fmt.Errorf("resync: %w", err)
		}
		want[b] = true
		dirty.clear(b)
	}
	var out map[uint32][]*plumbv1.Fact
	var freed int64
	var n int
	err := d.db.Update(func(tx *bolt.Tx) error {
		out = make(map[uint32][]*plumbv1.Fact, len(bs))
		for _, b := range bs {
			out[b] = []*plumbv1.Fact{}
		}
		err := tx.Bucket(bucketFacts).ForEach(func(k, v []byte) error {
			key, err := fact.DecodeKey(k)
			if err != nil {
				return err
			}
			b := key.Bucket()
			if !want[b] {
				return nil
			}
			f, err := decodeFact(v)
			if err != nil {
				return err
			}
			acked.Add(key, f.GetDigest())
			out[b] = append(out[b], f)
			return nil
		})
		if err != nil {
			return err
		}
		c := tx.Bucket(bucketSpool).Cursor()
		for k, v := c.First(); k != nil; {
			e, err := decodeEntry(v)
			if err != nil {
				return err
			}
			if key, ok := e.key(); ok && want[key.Bucket()] {
				freed += int64(len(v))
				n++
				if err := c.Delete(); err != nil {
					return err
				}
				k, v = c.Seek(k)
				continue
			}
			k, v = c.Next()
		}
		if dirty.empty() {
			return tx.Bucket(bucketMeta).Delete(keyDirty)
		}
		return tx.Bucket(bucketMeta).Put(keyDirty, dirty.encode())
	})
	if err != nil {
		return nil, fmt.Errorf("resync %d buckets: %w", len(bs), err)
	}
	d.acked, d.dirty = acked, dirty
	d.spoolBytes -= freed
	d.spoolLen -= n
	if d.spoolBytes <= d.limit {
		d.shrinkAt = 0 // back under the limit: the next time over it shrinks at once
	}
	d.metrics.setSpool(d.spoolLen, d.spoolBytes)
	return out, nil
}
