package state

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// The spool is bounded by its byte limit. Past it, the spool is first
// compacted, then, if that is not enough, partly or wholly dropped.
//
// A checkpoint is a barrier neither may move a fact across: the collector
// adopts a new host's baseline at the first checkpoint it applies, and
// checks its set digest at every one, so the state at a checkpoint must
// stay exactly the state the agent had when it wrote it. Compaction keeps
// only the newest delta per fact within each stretch between kept
// checkpoints; it keeps the first checkpoint (the one a baseline may be
// adopted at) and the last, with their digests, and drops those between
// (the state at the last one still holds everything before it). The
// spool thus stays within about three deltas per fact. Deltas already
// handed to the stream are left as they are: the collector may have
// applied them, and the acknowledged digest must be able to follow.
//
// Until the collector has acknowledged a checkpoint, the first one in the
// spool is where it adopts this host's baseline, so what leads up to it is
// never dropped, limit or not: it is the host's first snapshot, at most one
// delta per fact after compaction. What follows that checkpoint is
// dropped: the buckets of the forgotten deltas are marked dirty and
// resynced once the collector has applied the checkpoint. Once a
// checkpoint has been acknowledged, the whole spool is dropped, and the
// next handshake resyncs every bucket that differs; drift is then judged
// against the baseline the collector holds.
//
// A spool that stays over its limit is not compacted again until it has
// doubled, so an agent whose first snapshot is larger than the limit does
// not compact on every write.

// shrinkLocked brings the spool back under its limit.
func (d *DB) shrinkLocked() {
	before, beforeLen := d.spoolBytes, d.spoolLen
	if err := d.compactLocked(); err != nil {
		d.logger.Error("spool compaction failed", "err", err)
		return
	}
	d.metrics.Compactions.Inc()
	d.logger.Warn("spool over its limit; compacted to the newest delta per fact between checkpoints",
		"limit", d.limit, "bytes_before", before, "deltas_before", beforeLen,
		"bytes_after", d.spoolBytes, "deltas", d.spoolLen)
	defer func() {
		d.shrinkAt = 0
		if d.spoolBytes > d.limit {
			d.shrinkAt = 2 * d.spoolBytes
		}
	}()
	if d.spoolBytes <= d.limit {
		return
	}
	if d.checkpointAcked {
		if err := d.dropAllLocked(); err != nil {
			d.logger.Error("dropping the spool failed", "err", err)
			return
		}
		d.metrics.Drops.Inc()
		d.logger.Error("spool still over its limit after compaction; dropped it, the next handshake resyncs the difference",
			"limit", d.limit)
		return
	}
	kept, err := d.dropAfterCheckpointLocked()
	if err != nil {
		d.logger.Error("dropping the spool after its first checkpoint failed", "err", err)
		return
	}
	if kept {
		d.metrics.Drops.Inc()
		d.logger.Error("spool still over its limit after compaction; dropped what follows its first checkpoint (the baseline), resynced once the collector has that checkpoint",
			"limit", d.limit, "bytes", d.spoolBytes, "dirty_buckets", d.dirty.count())
		return
	}
	d.logger.Warn("spool over its limit, but it holds this host's first snapshot, which the collector needs for its baseline; kept",
		"limit", d.limit, "bytes", d.spoolBytes)
}

// compactLocked keeps the newest delta per fact in each stretch between
// kept checkpoints, each with its stretch's oldest base.
func (d *DB) compactLocked() error {
	var count spoolCount
	err := d.db.Update(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bucketSpool)
		var cps []uint64
		err := forEachEntry(sb, func(seq uint64, e entry, _ int) error {
			if _, ok := e.key(); !ok {
				cps = append(cps, seq)
			}
			return nil
		})
		if err != nil {
			return err
		}
		// stretch 0: before the first checkpoint; 1: up to the last;
		// 2: after it.
		stretch := func(seq uint64) int {
			switch {
			case len(cps) == 0 || seq < cps[0]:
				return 0
			case seq < cps[len(cps)-1]:
				return 1
			}
			return 2
		}
		type where struct {
			stretch int
			key     fact.Key
		}
		type kept struct {
			seq  uint64
			base []byte
			// created: the chain starts with the fact's creation (a
			// chain holds only deltas not yet handed to the stream)
			created bool
		}
		sent := d.sent
		newest := map[where]*kept{}
		var drop []uint64
		err = forEachEntry(sb, func(seq uint64, e entry, _ int) error {
			if seq <= sent {
				// Handed to the stream: the collector may have applied
				// it, and an ack or a welcome will name it. Dropping it,
				// or moving its effect to a later delta, would leave the
				// acknowledged digest short of what the collector holds,
				// and the next handshake would resync its bucket.
				return nil
			}
			k, ok := e.key()
			if !ok {
				if seq != cps[0] && seq != cps[len(cps)-1] {
					drop = append(drop, seq)
				}
				return nil
			}
			w := where{stretch(seq), k}
			if p, seen := newest[w]; seen {
				drop = append(drop, p.seq)
				p.seq = seq
				return nil
			}
			newest[w] = &kept{seq: seq, base: e.base,
				created: e.base == nil && e.delta.GetOp() == plumbv1.DeltaOp_DELTA_OP_UPSERT}
			return nil
		})
		if err != nil {
			return err
		}
		for _, seq := range drop {
			if err := sb.Delete(u64(seq)); err != nil {
				return err
			}
		}
		// Survivors take their stretch's oldest base: the value the
		// collector has before the stretch. A fact created and deleted
		// within the stretch (a temp file) needs no delta at all, so the
		// spool stays bounded by the facts that exist, not by the names an
		// outage saw come and go; unless its creation may already be on
		// its way to the collector (a lone delete without a base is what
		// an earlier compaction kept for that reason).
		for _, p := range newest {
			v := sb.Get(u64(p.seq))
			e, err := decodeEntry(v)
			if err != nil {
				return fmt.Errorf("spool entry %d: %w", p.seq, err)
			}
			if p.created && e.delta.GetOp() == plumbv1.DeltaOp_DELTA_OP_DELETE {
				if err := sb.Delete(u64(p.seq)); err != nil {
					return err
				}
				continue
			}
			if string(e.base) == string(p.base) {
				continue
			}
			e.base = p.base
			if v, err = e.encode(); err != nil {
				return err
			}
			if err := sb.Put(u64(p.seq), v); err != nil {
				return err
			}
		}
		count, err = countSpool(sb)
		return err
	})
	if err != nil {
		return err
	}
	d.setCountLocked(count)
	return nil
}

// dropAfterCheckpointLocked drops every delta after the spool's first
// checkpoint and marks their buckets dirty. It reports false, changing
// nothing, if the spool holds no checkpoint.
func (d *DB) dropAfterCheckpointLocked() (bool, error) {
	found := false
	dirty := d.dirty
	var count spoolCount
	err := d.db.Update(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bucketSpool)
		c := sb.Cursor()
		for k, v := c.First(); k != nil; {
			e, err := decodeEntry(v)
			if err != nil {
				return fmt.Errorf("spool entry %d: %w", getU64(k), err)
			}
			key, keyed := e.key()
			switch {
			case !found:
				found = !keyed
				k, v = c.Next()
				continue
			case keyed:
				dirty.set(key.Bucket())
			}
			if err := c.Delete(); err != nil {
				return err
			}
			k, v = c.Seek(k)
		}
		if !found {
			return nil
		}
		if err := tx.Bucket(bucketMeta).Put(keyDirty, dirty.encode()); err != nil {
			return err
		}
		var err error
		count, err = countSpool(sb)
		return err
	})
	if err != nil || !found {
		return false, err
	}
	d.dirty = dirty
	d.setCountLocked(count)
	return true, nil
}

// dropAllLocked empties the spool and counts everything as acknowledged:
// the next handshake compares the collector's buckets with the current
// state and resyncs every one that differs, dirty ones included.
func (d *DB) dropAllLocked() error {
	err := d.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketSpool); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketSpool); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Delete(keyDirty)
	})
	if err != nil {
		return err
	}
	d.setCountLocked(spoolCount{})
	d.dirty = dirtySet{}
	d.acked = d.cur
	d.askResync()
	return nil
}

// spoolCount is what the DB keeps in memory about its spool.
type spoolCount struct {
	bytes       int64
	len         int
	checkpoints int
}

// countSpool counts the spool's bytes, deltas and checkpoints.
func countSpool(sb *bolt.Bucket) (spoolCount, error) {
	var c spoolCount
	err := forEachEntry(sb, func(_ uint64, e entry, size int) error {
		c.len++
		c.bytes += int64(size)
		if _, ok := e.key(); !ok {
			c.checkpoints++
		}
		return nil
	})
	return c, err
}

func (d *DB) setCountLocked(c spoolCount) {
	d.spoolBytes, d.spoolLen, d.spoolCheckpoints = c.bytes, c.len, c.checkpoints
	d.metrics.setSpool(c.len, c.bytes)
}

// forEachEntry decodes the spool's entries in order; size is the encoded
// entry's.
func forEachEntry(sb *bolt.Bucket, fn func(seq uint64, e entry, size int) error) error {
	return sb.ForEach(func(k, v []byte) error {
		e, err := decodeEntry(v)
		if err != nil {
			return fmt.Errorf("spool entry %d: %w", getU64(k), err)
		}
		return fn(getU64(k), e, len(v))
	})
}
