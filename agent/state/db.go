package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// FileName is the database's name inside the agent's state directory.
const FileName = "agent.db"

// DefaultSpoolLimit bounds the spool's bytes unless configured otherwise.
const DefaultSpoolLimit = 256 << 20

// Options tune Open.
type Options struct {
	// SpoolLimit bounds the bytes of unacknowledged deltas. Zero means
	// DefaultSpoolLimit.
	SpoolLimit int64
	Logger     *slog.Logger
	Metrics    *Metrics
}

// DB is the agent's state and spool.
type DB struct {
	db      *bolt.DB
	path    string
	logger  *slog.Logger
	metrics *Metrics
	limit   int64
	notify  chan struct{}
	resync  chan struct{}

	mu sync.Mutex
	// Guarded by mu:
	cur        fact.SetDigest // of every fact in facts
	acked      fact.SetDigest // of the collector's state after lastAcked
	facts      uint64         // number of facts
	seq        uint64         // last sequence number assigned
	lastAcked  uint64
	spoolBytes int64
	spoolLen   int
	// checkpoints in the spool: while one is pending, no resync may
	// move a fact across it (see shrink.go)
	spoolCheckpoints int
	dirty            dirtySet // buckets to resync once no checkpoint is pending
	// checkpointAcked: the collector has applied a checkpoint of this
	// agent's, so it holds a baseline (see shrink.go)
	checkpointAcked bool
	shrinkAt        int64 // past the limit, shrink again only above this

	// sent is the highest seq Pending has handed out: deltas up to it may
	// be on their way to the collector, so compaction must not drop the
	// end of a chain whose start may have been sent.
	sent uint64
	// contentBytes is the total of the content bucket's values.
	contentBytes int64

	// contentKept mirrors contentBytes > 0 for KeptSum, which is asked
	// for every hashed file and must not wait for mu (held through a
	// commit's fsync).
	contentKept atomic.Bool

	releaseMu sync.Mutex
	// Guarded by releaseMu:
	released     time.Time   // last trimMapped
	releaseTimer *time.Timer // a trimMapped to come
	closed       bool        // no more trims
}

// Open opens or creates the database in dir. A file that is not a
// readable Plumb agent database (corrupt, truncated, foreign) is renamed
// aside with a ".corrupt-<time>" suffix and a fresh one is created: the
// agent then rescans and the collector resyncs, which is better than a
// crash loop. The rename is logged at error level.
func Open(dir string, opts Options) (*DB, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SpoolLimit <= 0 {
		opts.SpoolLimit = DefaultSpoolLimit
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	d, err := open(path, opts)
	if err == nil {
		return d, nil
	}
	var lerr *lockedError
	if errors.As(err, &lerr) {
		return nil, err
	}
	aside := fmt.Sprintf("%s.corrupt-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	opts.Logger.Error("agent database unreadable; setting it aside and starting fresh",
		"path", path, "aside", aside, "err", err)
	if rerr := os.Rename(path, aside); rerr != nil {
		return nil, fmt.Errorf("open %s: %w (and could not set it aside: %v)", path, err, rerr)
	}
	opts.Metrics.Rebuilds.Inc()
	return open(path, opts)
}

type lockedError struct{ err error }

func (e *lockedError) Error() string { return e.err.Error() }
func (e *lockedError) Unwrap() error { return e.err }

// initialMap is how much of the file bbolt maps at first. Each time the
// file outgrows its map, bbolt waits for every read transaction, copies
// what the writing transaction's nodes point to onto the heap, and maps
// again; from 32 KiB that is nine times on the way to a 20,000-file
// state, during the first scan, whose walkers read as Apply writes. The
// map is address space only: the resident pages are those read (and
// trimmed, unsafeReleaseMapped). Past 16 MiB of map, bbolt grows the file
// 16 MiB beyond what it needs, not to the map's size.
const initialMap = 256 << 20

// pageSize is the page size of a state file this agent creates (one
// already there keeps its own). bbolt writes each dirty page with a
// pwrite of its own and keeps a node per page in a write transaction: at
// 16 KiB, against the OS's 4 KiB, a 20,000-file first scan used 17 ms
// less agent CPU and the collector's ingest, whose files are sized the
// same way, 13 % less.
const pageSize = 16 << 10

func open(path string, opts Options) (d *DB, err error) {
	// bbolt may panic on some kinds of corruption; turn that into an error
	// so Open can set the file aside.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("open %s: database corrupt: %v", path, r)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, InitialMmapSize: initialMap, PageSize: pageSize})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, &lockedError{fmt.Errorf("open %s: locked by another process (is another plumb-agent running with this state dir?)", path)}
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	d = &DB{
		db:      db,
		path:    path,
		logger:  opts.Logger,
		metrics: opts.Metrics,
		limit:   opts.SpoolLimit,
		notify:  make(chan struct{}, 1),
		resync:  make(chan struct{}, 1),
	}
	if err := d.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	d.trimMapped()
	return d, nil
}

// init checks the schema and rebuilds the in-memory digests and counters.
func (d *DB) init() error {
	// A database this agent wrote has everything: reading that costs no
	// commit, whose fsync a restart would wait for.
	var ready bool
	_ = d.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		ready = meta != nil && string(meta.Get(keyMagic)) == string(magicValue) &&
			getU64(meta.Get(keySchema)) == schemaVersion && tx.Bucket(bucketFacts) != nil &&
			tx.Bucket(bucketContent) != nil && tx.Bucket(bucketSpool) != nil
		return nil
	})
	err := d.prepare(ready)
	if err != nil {
		return err
	}
	return d.load()
}

// prepare creates what a new database lacks and checks the schema of an
// existing one, in a write transaction, unless ready says there is
// nothing to do.
func (d *DB) prepare(ready bool) error {
	if ready {
		return nil
	}
	return d.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if m := meta.Get(keyMagic); m == nil {
			if tx.Bucket(bucketFacts) != nil || countBuckets(tx) > 1 {
				return errors.New("not a Plumb agent database")
			}
			if err := meta.Put(keyMagic, magicValue); err != nil {
				return err
			}
			if err := meta.Put(keySchema, u64(schemaVersion)); err != nil {
				return err
			}
		} else if string(m) != string(magicValue) {
			return errors.New("not a Plumb agent database")
		}
		if v := getU64(meta.Get(keySchema)); v != schemaVersion {
			return fmt.Errorf("schema version %d, this agent reads %d", v, schemaVersion)
		}
		if _, err := tx.CreateBucketIfNotExists(bucketFacts); err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketContent); err != nil {
			return err
		}
		_, err = tx.CreateBucketIfNotExists(bucketSpool)
		return err
	})
}

// load rebuilds the in-memory digests and counters.
func (d *DB) load() error {
	return d.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		d.seq = getU64(meta.Get(keySeq))
		d.lastAcked = getU64(meta.Get(keyAckedSeq))
		d.dirty = decodeDirty(meta.Get(keyDirty))
		if v := meta.Get(keyCheckpointAcked); v != nil {
			d.checkpointAcked = len(v) == 1 && v[0] == 1
		} else {
			// Written by an agent before this key existed: one that had
			// acknowledgements had its first checkpoint applied.
			d.checkpointAcked = d.lastAcked > 0
		}
		kc := keyCounter{db: d.db, tx: tx}
		if cur, n, ok := storedSetDigest(meta, d.seq); ok {
			d.cur, d.facts = cur, n
		} else {
			cur, n, err := digestFacts(tx.Bucket(bucketFacts), kc.tick)
			d.cur, d.facts = cur, n
			if err != nil {
				return err
			}
		}
		// acked = cur with every spooled delta undone, newest first.
		// (Dirty buckets' acked digests are off: they are resynced.)
		d.acked = d.cur
		c := tx.Bucket(bucketSpool).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			kc.tick()
			e, err := decodeEntryDigests(v)
			if err != nil {
				return fmt.Errorf("spool entry %d: %w", getU64(k), err)
			}
			e.undo(&d.acked)
		}
		count, err := countSpool(tx.Bucket(bucketSpool))
		if err != nil {
			return err
		}
		d.setCountLocked(count)
		err = tx.Bucket(bucketContent).ForEach(func(_, v []byte) error {
			d.contentBytes += int64(len(v))
			return nil
		})
		d.metrics.ContentBytes.Set(float64(d.contentBytes))
		d.contentKept.Store(d.contentBytes > 0)
		return err
	})
}

func countBuckets(tx *bolt.Tx) int {
	n := 0
	_ = tx.ForEach(func([]byte, *bolt.Bucket) error { n++; return nil })
	return n
}

// Close closes the database.
func (d *DB) Close() error {
	d.stopTrimming()
	return d.db.Close()
}

// Path returns the database file's path.
func (d *DB) Path() string { return d.path }

// Notify returns a channel that receives a value after the spool grows.
func (d *DB) Notify() <-chan struct{} { return d.notify }

// ResyncNeeded receives a value when the spool was dropped, or when the
// collector has applied the checkpoint that dirty buckets waited for: the
// stream should reconnect so the handshake resyncs.
func (d *DB) ResyncNeeded() <-chan struct{} { return d.resync }

// askResync makes the stream reconnect, so that its handshake resyncs.
func (d *DB) askResync() {
	select {
	case d.resync <- struct{}{}:
	default:
	}
}

func (d *DB) kick() {
	select {
	case d.notify <- struct{}{}:
	default:
	}
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func getU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
