package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// FactChange is one entry of a host's fact history: at At (collector
// clock, unix nano) the fact Key changed, and Old is the value it had
// until then (nil: it did not exist).
type FactChange struct {
	At  int64
	Key fact.Key
	Old *plumbv1.Fact
}

// historyPrefix is the part of a fact history key that names the host.
func historyPrefix(host string) []byte {
	b := binary.AppendUvarint(nil, uint64(len(host)))
	return append(b, host...)
}

func historyKey(host string, at int64, k fact.Key) []byte {
	b := historyPrefix(host)
	b = binary.BigEndian.AppendUint64(b, uint64(max(at, 0)))
	return append(b, k.Encode()...)
}

// The first byte of a fact history value: whether the fact existed (the
// protobuf Fact follows) or not. (bbolt does not tell an empty value from
// a missing key.)
const (
	histAbsent  = 0
	histPresent = 1
)

// PutFactChange records that the host's fact k changed at at, having had
// the value old until then (nil: it did not exist). Of two changes of one
// fact at the same instant the first is kept: its old value is the one
// the fact had before that instant.
func (t *boltTx) PutFactChange(host string, at int64, k fact.Key, old *plumbv1.Fact) error {
	b := t.tx.Bucket(bucketFactHistory)
	key := historyKey(host, at, k)
	if b.Get(key) != nil {
		return nil
	}
	v := []byte{histAbsent}
	if old != nil {
		var err error
		if v, err = (proto.MarshalOptions{}).MarshalAppend([]byte{histPresent}, old); err != nil {
			return fmt.Errorf("encode fact history of host %q: %w", host, err)
		}
	}
	if err := b.Put(key, v); err != nil {
		return fmt.Errorf("put fact history of host %q: %w", host, err)
	}
	return nil
}

// FactChanges calls fn for the host's recorded changes with At > after,
// in (At, key) order.
func (t *boltTx) FactChanges(host string, after int64, fn func(*FactChange) error) error {
	prefix := historyPrefix(host)
	start := binary.BigEndian.AppendUint64(bytes.Clone(prefix), uint64(max(after, -1)+1))
	c := t.tx.Bucket(bucketFactHistory).Cursor()
	for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		rest := k[len(prefix):]
		if len(rest) < 8 {
			return fmt.Errorf("fact history of host %q: short key", host)
		}
		fk, err := fact.DecodeKey(rest[8:])
		if err != nil {
			return fmt.Errorf("fact history of host %q: %w", host, err)
		}
		ch := &FactChange{At: int64(binary.BigEndian.Uint64(rest[:8])), Key: fk}
		if len(v) == 0 || v[0] != histAbsent && v[0] != histPresent {
			return fmt.Errorf("fact history of host %q: malformed value", host)
		}
		if v[0] == histPresent {
			ch.Old = &plumbv1.Fact{}
			if err := proto.Unmarshal(v[1:], ch.Old); err != nil {
				return fmt.Errorf("decode fact history of host %q: %w", host, err)
			}
		}
		if err := fn(ch); err != nil {
			return err
		}
	}
	return nil
}

// pruneFactHistory deletes up to limit fact history entries older than
// cutoff, host by host. more reports that it stopped at the limit.
func pruneFactHistory(tx *bolt.Tx, cutoff int64, limit int) (n int, more bool, err error) {
	c := tx.Bucket(bucketFactHistory).Cursor()
	k, _ := c.First()
	for k != nil {
		hl, w := binary.Uvarint(k)
		if w <= 0 || uint64(len(k)-w) < hl+8 {
			return n, false, fmt.Errorf("fact history: malformed key %x", k)
		}
		prefix := bytes.Clone(k[:w+int(hl)])
		at := int64(binary.BigEndian.Uint64(k[len(prefix):]))
		if at >= cutoff {
			// This host's entries from here on are kept: skip to the next host.
			next := binary.BigEndian.AppendUint64(bytes.Clone(prefix), ^uint64(0))
			k, _ = c.Seek(next)
			for k != nil && bytes.HasPrefix(k, prefix) {
				k, _ = c.Next()
			}
			continue
		}
		if n == limit {
			return n, true, nil
		}
		if err := c.Delete(); err != nil {
			return n, false, err
		}
		n++
		k, _ = c.Seek(prefix)
	}
	return n, false, nil
}
