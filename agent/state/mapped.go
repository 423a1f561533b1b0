package state

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// How often the agent's resident share of the mapped database is trimmed
// (see unsafeReleaseMapped): at most every releaseEvery after writes and
// reads, and every releaseKeys entries within one long read (the sweep
// at a snapshot's end, a resync, opening). Between two trims the pages
// touched stay resident: a few MiB at scan speed.
const (
	releaseEvery = 250 * time.Millisecond
	releaseKeys  = 8192
)

// trimMapped releases the mapped pages if releaseEvery has passed since
// the last time, and otherwise makes sure it happens then, so that an
// agent gone idle keeps nothing mapped. It must not be called inside a
// transaction.
func (d *DB) trimMapped() {
	d.releaseMu.Lock()
	wait := releaseEvery - time.Since(d.released)
	if wait > 0 {
		if d.releaseTimer == nil && !d.closed {
			d.releaseTimer = time.AfterFunc(wait, func() {
				d.releaseMu.Lock()
				d.releaseTimer = nil
				d.releaseMu.Unlock()
				d.trimMapped()
			})
		}
		d.releaseMu.Unlock()
		return
	}
	d.released = time.Now()
	d.releaseMu.Unlock()
	_ = d.db.View(func(tx *bolt.Tx) error {
		unsafeReleaseMapped(d.db, tx)
		return nil
	})
}

// stopTrimming cancels a pending trim; Close calls it.
func (d *DB) stopTrimming() {
	d.releaseMu.Lock()
	defer d.releaseMu.Unlock()
	d.closed = true
	if d.releaseTimer != nil {
		d.releaseTimer.Stop()
		d.releaseTimer = nil
	}
}

// keyCounter releases the mapped pages every releaseKeys calls of tick,
// for loops over many entries in one read transaction.
type keyCounter struct {
	db *bolt.DB
	tx *bolt.Tx
	n  int
}

func (c *keyCounter) tick() {
	if c.n++; c.n%releaseKeys == 0 {
		unsafeReleaseMapped(c.db, c.tx)
	}
}
