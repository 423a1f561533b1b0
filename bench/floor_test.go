package bench

import (
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// commitFloor measures, on the disk the benchmarks write to, what one
// durable bbolt transaction of a single small put costs: the fsync every
// change pays on the agent (its spool) and on the collector (its store)
// before it may be acknowledged. n commits, one after another.
func commitFloor(b *testing.B, dir string, n int) []time.Duration {
	b.Helper()
	db, err := bolt.Open(filepath.Join(dir, "floor.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ds := make([]time.Duration, 0, n)
	var key [8]byte
	for i := range n {
		binary.BigEndian.PutUint64(key[:], uint64(i))
		start := time.Now()
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("floor"))
			if err != nil {
				return err
			}
			return bk.Put(key[:], []byte("a small fact value, as a delta is"))
		})
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	return ds
}
