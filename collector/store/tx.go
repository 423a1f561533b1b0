package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factwire"
)

// boltTx implements Tx over one bbolt transaction. Everything it returns is
// decoded into fresh values: bbolt's bytes die with the transaction.
type boltTx struct {
	tx *bolt.Tx
	// hosts caches host buckets for the transaction's lifetime; a batch
	// touches the same host many times.
	hosts map[string]*bolt.Bucket
	// buckets indexes hosts' fact keys by set-digest bucket once a
	// transaction resyncs several of a host's buckets; scanned marks the
	// hosts whose facts it scanned once (see bucketIndex).
	buckets map[string]*bucketKeys
	scanned map[string]bool
}

var _ Tx = (*boltTx)(nil)

func newBoltTx(tx *bolt.Tx) *boltTx {
	return &boltTx{tx: tx, hosts: make(map[string]*bolt.Bucket)}
}

// hostBucket returns the host's bucket, creating it (with its sub-buckets)
// when create is set and the transaction is writable. It returns nil for a
// missing host otherwise.
func (t *boltTx) hostBucket(id string, create bool) (*bolt.Bucket, error) {
	if b, ok := t.hosts[id]; ok {
		return b, nil
	}
	hosts := t.tx.Bucket(bucketHosts)
	b := hosts.Bucket([]byte(id))
	if b == nil {
		if !create {
			return nil, nil
		}
		if id == "" {
			return nil, errors.New("empty host id")
		}
		var err error
		if b, err = hosts.CreateBucket([]byte(id)); err != nil {
			return nil, fmt.Errorf("create host %q: %w", id, err)
		}
		for _, name := range hostSubBuckets {
			if _, err := b.CreateBucket(name); err != nil {
				return nil, fmt.Errorf("create host %q: %w", id, err)
			}
		}
	}
	t.hosts[id] = b
	return b, nil
}

// sub returns one of the host's sub-buckets, or nil.
func (t *boltTx) sub(host string, name []byte, create bool) (*bolt.Bucket, error) {
	b, err := t.hostBucket(host, create)
	if b == nil || err != nil {
		return nil, err
	}
	return b.Bucket(name), nil
}

func (t *boltTx) Host(id string) (*Host, error) {
	b, _ := t.hostBucket(id, false)
	if b == nil || b.Get(keyHostRecord) == nil {
		return nil, fmt.Errorf("host %q: %w", id, ErrNotFound)
	}
	return decodeHost(b.Get(keyHostRecord), b.Get(keyHostDigest))
}

func (t *boltTx) Hosts(fn func(*Host) error) error {
	return t.HostsAfter("", fn)
}

func (t *boltTx) HostsAfter(after string, fn func(*Host) error) error {
	c := t.tx.Bucket(bucketHosts).Cursor()
	k, v := c.First()
	if after != "" {
		if k, v = c.Seek([]byte(after)); k != nil && string(k) == after {
			k, v = c.Next()
		}
	}
	for ; k != nil; k, v = c.Next() {
		if v != nil {
			continue // not a bucket
		}
		b := c.Bucket().Bucket(k)
		if b.Get(keyHostRecord) == nil {
			continue // facts written before the host's first PutHost
		}
		h, err := decodeHost(b.Get(keyHostRecord), b.Get(keyHostDigest))
		if err != nil {
			return err
		}
		if err := fn(h); err != nil {
			return err
		}
	}
	return nil
}

func (t *boltTx) PutHost(h *Host) error {
	b, err := t.hostBucket(h.ID, true)
	if err != nil {
		return err
	}
	record, digest, err := encodeHost(h)
	if err != nil {
		return err
	}
	if err := b.Put(keyHostRecord, record); err != nil {
		return fmt.Errorf("put host %q: %w", h.ID, err)
	}
	if err := b.Put(keyHostDigest, digest); err != nil {
		return fmt.Errorf("put host %q: %w", h.ID, err)
	}
	return nil
}

func (t *boltTx) Fact(host string, k fact.Key) (*plumbv1.Fact, error) {
	return t.getFact(host, bucketFacts, k)
}

func (t *boltTx) Facts(host string, kind plumbv1.FactKind, fn func(*plumbv1.Fact) error) error {
	return t.scan(host, bucketFacts, kind, func(v []byte) error {
		f, err := DecodeFact(host, "fact", v)
		if err != nil {
			return err
		}
		return fn(f)
	})
}

func (t *boltTx) FactsAfter(host string, kind plumbv1.FactKind, after *fact.Key, fn func(*plumbv1.Fact) error) error {
	return t.scanAfter(host, bucketFacts, kind, after, func(v []byte) error {
		f, err := DecodeFact(host, "fact", v)
		if err != nil {
			return err
		}
		return fn(f)
	})
}

func (t *boltTx) FactsInBucket(host string, bucket uint32, fn func(*plumbv1.Fact) error) error {
	if bucket >= fact.BucketCount {
		return nil
	}
	b, err := t.sub(host, bucketFacts, false)
	if b == nil || err != nil {
		return err
	}
	if idx := t.bucketIndex(host, b); idx != nil {
		keys := make([]string, 0, len(idx[bucket]))
		for k := range idx[bucket] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := b.Get([]byte(k))
			if v == nil {
				return fmt.Errorf("host %q: indexed fact key %q has no value", host, k)
			}
			f, err := DecodeFact(host, "fact", v)
			if err != nil {
				return err
			}
			if err := fn(f); err != nil {
				return err
			}
		}
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		// The stored key is the encoded fact key: its bucket is read
		// off it without decoding.
		if len(k) < 1 {
			return fmt.Errorf("host %q: empty fact key", host)
		}
		if fact.BucketOf(k) != bucket {
			return nil
		}
		f, err := DecodeFact(host, "fact", v)
		if err != nil {
			return err
		}
		return fn(f)
	})
}

// bucketKeys is the keys of one host's stored facts, by set-digest
// bucket.
type bucketKeys [fact.BucketCount]map[string]struct{}

// bucketIndex returns the index of host's fact keys by bucket for this
// transaction, or nil the first time a transaction asks for one of the
// host's buckets: a resync of one bucket scans the host's facts once, as
// before. A full resync asks for all 256 buckets, many in one group
// commit; each would scan every fact of the host (all hashed, to find a
// few hundred), so from the second the keys are indexed by one scan and
// kept current by PutFact and DeleteFact until the transaction ends. It
// holds the host's keys, which its fact quota bounds.
func (t *boltTx) bucketIndex(host string, b *bolt.Bucket) *bucketKeys {
	if idx := t.buckets[host]; idx != nil {
		return idx
	}
	if !t.scanned[host] {
		if t.scanned == nil {
			t.scanned = map[string]bool{}
		}
		t.scanned[host] = true
		return nil
	}
	idx := new(bucketKeys)
	for i := range idx {
		idx[i] = map[string]struct{}{}
	}
	_ = b.ForEach(func(k, _ []byte) error {
		if len(k) > 0 {
			idx[fact.BucketOf(k)][string(k)] = struct{}{}
		}
		return nil
	})
	if t.buckets == nil {
		t.buckets = map[string]*bucketKeys{}
	}
	t.buckets[host] = idx
	return idx
}

func (t *boltTx) PutFact(host string, f *plumbv1.Fact) error {
	k := fact.KeyOf(f)
	if err := t.put(host, bucketFacts, k, f); err != nil {
		return err
	}
	if idx := t.buckets[host]; idx != nil {
		idx[k.Bucket()][string(k.Encode())] = struct{}{}
	}
	return nil
}

func (t *boltTx) DeleteFact(host string, k fact.Key) error {
	if err := t.del(host, bucketFacts, k); err != nil {
		return err
	}
	if idx := t.buckets[host]; idx != nil {
		delete(idx[k.Bucket()], string(k.Encode()))
	}
	return nil
}

func (t *boltTx) Baseline(host string, k fact.Key) (*plumbv1.Fact, error) {
	return t.getFact(host, bucketBaselines, k)
}

func (t *boltTx) Baselines(host string, fn func(*plumbv1.Fact) error) error {
	return t.scan(host, bucketBaselines, plumbv1.FactKind_FACT_KIND_UNSPECIFIED, func(v []byte) error {
		f, err := DecodeFact(host, "baseline", v)
		if err != nil {
			return err
		}
		return fn(f)
	})
}

func (t *boltTx) PutBaseline(host string, f *plumbv1.Fact) error {
	return t.put(host, bucketBaselines, fact.KeyOf(f), f)
}

func (t *boltTx) DeleteBaseline(host string, k fact.Key) error {
	return t.del(host, bucketBaselines, k)
}

func (t *boltTx) Drift(host string, k fact.Key) (*plumbv1.DriftItem, error) {
	item := &plumbv1.DriftItem{}
	if err := t.get(host, bucketDrift, k, item); err != nil {
		return nil, err
	}
	return item, nil
}

func (t *boltTx) DriftItems(host string, includeClosed bool, fn func(*plumbv1.DriftItem) error) error {
	each := func(host string) error {
		return t.scan(host, bucketDrift, plumbv1.FactKind_FACT_KIND_UNSPECIFIED, func(v []byte) error {
			item := &plumbv1.DriftItem{}
			if err := proto.Unmarshal(v, item); err != nil {
				return fmt.Errorf("decode drift item of host %q: %w", host, err)
			}
			if !includeClosed && item.GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_OPEN {
				return nil
			}
			return fn(item)
		})
	}
	if host != "" {
		return each(host)
	}
	return t.tx.Bucket(bucketHosts).ForEachBucket(func(id []byte) error {
		return each(string(id))
	})
}

func (t *boltTx) DriftItemsAfter(host string, kind plumbv1.FactKind, after *DriftPos, fn func(*plumbv1.DriftItem) error) error {
	each := func(host string, after *fact.Key) error {
		return t.scanAfter(host, bucketDrift, kind, after, func(v []byte) error {
			item := &plumbv1.DriftItem{}
			if err := proto.Unmarshal(v, item); err != nil {
				return fmt.Errorf("decode drift item of host %q: %w", host, err)
			}
			return fn(item)
		})
	}
	if host != "" {
		var from *fact.Key
		switch {
		case after == nil || after.Host < host:
		case after.Host == host:
			from = &after.Key
		default:
			return nil // past this host's items
		}
		return each(host, from)
	}
	c := t.tx.Bucket(bucketHosts).Cursor()
	k, v := c.First()
	if after != nil {
		k, v = c.Seek([]byte(after.Host))
		if k != nil && v == nil && string(k) == after.Host {
			if err := each(after.Host, &after.Key); err != nil {
				return err
			}
			k, v = c.Next()
		}
	}
	for ; k != nil; k, v = c.Next() {
		if v != nil {
			continue // not a bucket
		}
		if err := each(string(k), nil); err != nil {
			return err
		}
	}
	return nil
}

func (t *boltTx) PutDrift(item *plumbv1.DriftItem) error {
	k := fact.Key{Kind: item.GetKind(), ID: string(item.GetKey())}
	return t.put(item.GetHostId(), bucketDrift, k, item)
}

func (t *boltTx) DeleteDrift(host string, k fact.Key) error {
	return t.del(host, bucketDrift, k)
}

// get decodes the value of k in the host's sub-bucket into m.
func (t *boltTx) get(host string, name []byte, k fact.Key, m proto.Message) error {
	v, err := t.value(host, name, k)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(v, m); err != nil {
		return fmt.Errorf("decode host %q %s %s: %w", host, name, k, err)
	}
	return nil
}

// getFact is get for a fact, with the hand decoder of file facts.
func (t *boltTx) getFact(host string, name []byte, k fact.Key) (*plumbv1.Fact, error) {
	v, err := t.value(host, name, k)
	if err != nil {
		return nil, err
	}
	f, err := factwire.Unmarshal(v)
	if err != nil {
		return nil, fmt.Errorf("decode host %q %s %s: %w", host, name, k, err)
	}
	return f, nil
}

// value returns the stored value of k in the host's sub-bucket.
func (t *boltTx) value(host string, name []byte, k fact.Key) ([]byte, error) {
	b, err := t.sub(host, name, false)
	if err != nil {
		return nil, err
	}
	var v []byte
	if b != nil {
		v = b.Get(k.Encode())
	}
	if v == nil {
		return nil, &notFoundError{host: host, what: name, key: k}
	}
	return v, nil
}

// scan calls fn with each value in the host's sub-bucket, of one kind or
// of all kinds, in key order. A missing host has no values.
func (t *boltTx) scan(host string, name []byte, kind plumbv1.FactKind, fn func(v []byte) error) error {
	return t.scanAfter(host, name, kind, nil, fn)
}

// scanAfter is scan starting after key after (nil: from the start).
func (t *boltTx) scanAfter(host string, name []byte, kind plumbv1.FactKind, after *fact.Key, fn func(v []byte) error) error {
	b, err := t.sub(host, name, false)
	if b == nil || err != nil {
		return err
	}
	c := b.Cursor()
	var k, v []byte
	var prefix []byte
	if kind != plumbv1.FactKind_FACT_KIND_UNSPECIFIED {
		prefix = []byte{byte(kind)}
	}
	switch {
	case after != nil:
		from := after.Encode()
		if k, v = c.Seek(from); k != nil && bytes.Equal(k, from) {
			k, v = c.Next()
		}
		if prefix != nil && k != nil && bytes.Compare(k, prefix) < 0 {
			k, v = c.Seek(prefix)
		}
	case prefix != nil:
		k, v = c.Seek(prefix)
	default:
		k, v = c.First()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

func (t *boltTx) put(host string, name []byte, k fact.Key, m proto.Message) error {
	if k.Kind == plumbv1.FactKind_FACT_KIND_UNSPECIFIED {
		return fmt.Errorf("put host %q %s: fact kind unspecified", host, name)
	}
	b, err := t.sub(host, name, true)
	if err != nil {
		return err
	}
	var v []byte
	if f, ok := m.(*plumbv1.Fact); ok {
		v, err = factwire.Marshal(f) // the hand encoder of file facts
	} else {
		v, err = proto.Marshal(m)
	}
	if err != nil {
		return fmt.Errorf("encode host %q %s %s: %w", host, name, k, err)
	}
	if err := b.Put(k.Encode(), v); err != nil {
		return fmt.Errorf("put host %q %s %s: %w", host, name, k, err)
	}
	return nil
}

func (t *boltTx) del(host string, name []byte, k fact.Key) error {
	b, err := t.sub(host, name, false)
	if b == nil || err != nil {
		return err
	}
	if err := b.Delete(k.Encode()); err != nil {
		return fmt.Errorf("delete host %q %s %s: %w", host, name, k, err)
	}
	return nil
}

// notFoundError is ErrNotFound for one fact-keyed value. The apply path
// misses often (new facts, no drift yet), so the message is built only if
// someone reads it.
type notFoundError struct {
	host string
	what []byte
	key  fact.Key
}

func (e *notFoundError) Error() string {
	return fmt.Sprintf("host %q %s %s: %s", e.host, e.what, e.key, ErrNotFound)
}

func (e *notFoundError) Unwrap() error { return ErrNotFound }

var _ BaselineAdopter = (*boltTx)(nil)

// AdoptBaseline implements BaselineAdopter: the host's baselines bucket is
// dropped and refilled with its facts' stored bytes, in key order.
func (t *boltTx) AdoptBaseline(host string) (int, error) {
	hb, err := t.hostBucket(host, false)
	if hb == nil || err != nil {
		return 0, err
	}
	if hb.Bucket(bucketBaselines) != nil {
		if err := hb.DeleteBucket(bucketBaselines); err != nil {
			return 0, fmt.Errorf("adopt baseline of host %q: %w", host, err)
		}
	}
	src := hb.Bucket(bucketFacts)
	if src == nil {
		return 0, nil
	}
	if k, _ := src.Cursor().First(); k == nil {
		return 0, nil
	}
	dst, err := hb.CreateBucket(bucketBaselines)
	if err != nil {
		return 0, fmt.Errorf("adopt baseline of host %q: %w", host, err)
	}
	// Filled in key order, as an append: pages packed fuller than
	// bbolt's default half, which suits random inserts.
	dst.FillPercent = 0.9
	n := 0
	err = src.ForEach(func(k, v []byte) error {
		n++
		// No copies: k and v stay valid for the transaction. Puts only
		// change bbolt's in-memory nodes; pages are allocated, and the
		// file remapped, only at commit, and a remap first copies what
		// the nodes point to (bbolt's dereference). Copying them was
		// half the adoption's time.
		return dst.Put(k, v)
	})
	if err != nil {
		return 0, fmt.Errorf("adopt baseline of host %q: %w", host, err)
	}
	return n, nil
}
