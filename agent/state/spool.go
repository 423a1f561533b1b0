package state

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// Pending returns up to max spooled deltas with Seq > after, in order.
func (d *DB) Pending(after uint64, max int) ([]*plumbv1.Delta, error) {
	var out []*plumbv1.Delta
	err := d.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketSpool).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < max; k, v = c.Next() {
			e, err := decodeEntry(v)
			if err != nil {
				return fmt.Errorf("spool entry %d: %w", getU64(k), err)
			}
			out = append(out, e.delta)
		}
		return nil
	})
	return out, err
}

// Ack records that the collector durably applied every delta up to seq:
// their spool entries go, and the acked digest moves forward.
func (d *DB) Ack(seq uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ackLocked(seq)
}

func (d *DB) ackLocked(seq uint64) error {
	if seq <= d.lastAcked && d.spoolLen == 0 {
		return nil
	}
	acked := d.acked
	var freed int64
	var n int
	err := d.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketSpool).Cursor()
		for k, v := c.First(); k != nil && getU64(k) <= seq; k, v = c.First() {
			e, err := decodeEntry(v)
			if err != nil {
				return fmt.Errorf("spool entry %d: %w", getU64(k), err)
			}
			e.apply(&acked)
			freed += int64(len(v))
			n++
			if err := c.Delete(); err != nil {
				return err
			}
		}
		if seq > d.lastAcked {
			return tx.Bucket(bucketMeta).Put(keyAckedSeq, u64(seq))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record ack %d: %w", seq, err)
	}
	d.acked = acked
	if seq > d.lastAcked {
		d.lastAcked = seq
	}
	d.spoolBytes -= freed
	d.spoolLen -= n
	d.metrics.Acked.Add(float64(n))
	d.metrics.setSpool(d.spoolLen, d.spoolBytes)
	return nil
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

// Resume takes the collector's applied sequence from a welcome and returns
// the buckets whose contents differ from the collector's (theirs, indexed
// by bucket). Everything up to applied counts as acknowledged. If the
// collector has applied numbers this agent never assigned (its state was
// lost or restored from an older copy), numbering continues above them
// and the bucket comparison repairs the difference.
func (d *DB) Resume(applied uint64, theirs [][]byte) ([]uint32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if applied > d.seq {
		d.logger.Warn("collector is ahead of this agent's sequence; continuing above it",
			"agent_seq", d.seq, "collector_applied", applied)
		err := d.db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keySeq, u64(applied))
		})
		if err != nil {
			return nil, fmt.Errorf("advance sequence: %w", err)
		}
		d.seq = applied
	}
	if err := d.ackLocked(applied); err != nil {
		return nil, err
	}
	return d.acked.DiffBuckets(theirs), nil
}

// ResyncBuckets returns the stored facts of each bucket in bs, by bucket,
// and in the same transaction drops the spooled deltas for those buckets
// (the snapshots carry their effect) and sets their acked digests to the
// current ones. One pass over the facts and the spool serves every bucket
// asked for; callers bound memory by asking for a group at a time.
func (d *DB) ResyncBuckets(bs []uint32) (map[uint32][]*plumbv1.Fact, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	want := make(map[uint32]bool, len(bs))
	acked := d.acked
	for _, b := range bs {
		want[b] = true
		acked.ResetBucket(b)
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
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("resync %d buckets: %w", len(bs), err)
	}
	d.acked = acked
	d.spoolBytes -= freed
	d.spoolLen -= n
	d.metrics.setSpool(d.spoolLen, d.spoolBytes)
	return out, nil
}

// shrinkLocked brings the spool back under its limit: first by compaction
// (only the newest delta per fact survives, with the oldest base; only the
// newest checkpoint survives, with its digest cleared since intermediate
// states are gone), then, if that is not enough, by dropping the spool.
// Dropping loses nothing: the facts stay in the state, and the next
// handshake compares them with the collector's buckets and resyncs what
// differs.
func (d *DB) shrinkLocked() {
	before := d.spoolBytes
	type kept struct {
		seq  uint64
		base []byte
	}
	newest := map[fact.Key]*kept{}
	var lastCheckpoint uint64
	var drop [][]byte
	err := d.db.Update(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bucketSpool)
		// First pass: find the newest entry per key, and the oldest base.
		err := sb.ForEach(func(k, v []byte) error {
			e, err := decodeEntry(v)
			if err != nil {
				return err
			}
			seq := getU64(k)
			key, ok := e.key()
			if !ok {
				if lastCheckpoint != 0 {
					drop = append(drop, u64(lastCheckpoint))
				}
				lastCheckpoint = seq
				return nil
			}
			if p, seen := newest[key]; seen {
				drop = append(drop, u64(p.seq))
				p.seq = seq
				return nil
			}
			newest[key] = &kept{seq: seq, base: e.base}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := sb.Delete(k); err != nil {
				return err
			}
		}
		// Second pass: give survivors their chain's oldest base, clear the
		// checkpoint digest, recount.
		d.spoolBytes, d.spoolLen = 0, 0
		for key, p := range newest {
			v := sb.Get(u64(p.seq))
			e, err := decodeEntry(v)
			if err != nil {
				return err
			}
			if !bytes.Equal(e.base, p.base) {
				e.base = p.base
				if v, err = e.encode(); err != nil {
					return err
				}
				if err := sb.Put(u64(p.seq), v); err != nil {
					return err
				}
			}
			_ = key
			d.spoolBytes += int64(len(v))
			d.spoolLen++
		}
		if lastCheckpoint != 0 {
			v := sb.Get(u64(lastCheckpoint))
			e, err := decodeEntry(v)
			if err != nil {
				return err
			}
			e.delta.SetDigest = nil
			if v, err = e.encode(); err != nil {
				return err
			}
			if err := sb.Put(u64(lastCheckpoint), v); err != nil {
				return err
			}
			d.spoolBytes += int64(len(v))
			d.spoolLen++
		}
		return nil
	})
	if err != nil {
		d.logger.Error("spool compaction failed", "err", err)
		return
	}
	d.metrics.Compactions.Inc()
	d.logger.Warn("spool over its limit; compacted to the newest delta per fact",
		"limit", d.limit, "bytes_before", before, "bytes_after", d.spoolBytes, "deltas", d.spoolLen)
	if d.spoolBytes <= d.limit {
		return
	}
	err = d.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketSpool); err != nil {
			return err
		}
		_, err := tx.CreateBucket(bucketSpool)
		return err
	})
	if err != nil {
		d.logger.Error("dropping the spool failed", "err", err)
		return
	}
	d.metrics.Drops.Inc()
	d.logger.Error("spool still over its limit after compaction; dropped it, the next handshake resyncs the difference",
		"limit", d.limit, "bytes", d.spoolBytes)
	d.spoolBytes, d.spoolLen = 0, 0
	d.metrics.setSpool(0, 0)
	// Pretend everything was acknowledged: the handshake then compares the
	// collector's buckets with the current state and resyncs what differs.
	d.acked = d.cur
	select {
	case d.resync <- struct{}{}:
	default:
	}
}
