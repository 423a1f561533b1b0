package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// GroupBaseline is a group's golden baseline: the record of its last
// promotion. Its facts are stored apart (GroupBaselineFact).
type GroupBaseline struct {
	Group      string `json:"group"`
	SourceHost string `json:"source_host"`
	By         string `json:"by"`
	Reason     string `json:"reason"`
	At         int64  `json:"at_unix_nano"`
	// Generation counts the group's promotions, from 1; it numbers the
	// drift ids a promotion causes.
	Generation uint64 `json:"generation"`
	// Selections the baseline covers, each promotion adding its own.
	Selections []Selection `json:"selections"`
	FactCount  uint64      `json:"fact_count"`
}

// Selection is facts of Kind (0: any) whose key in display form matches
// the doublestar glob Key ("": any).
type Selection struct {
	Kind int32  `json:"kind,omitempty"`
	Key  string `json:"key,omitempty"`
}

// GroupException is a host's accepted exception to its group's baseline
// for one fact: the host is held to its own baseline for it.
type GroupException struct {
	Group  string   `json:"group"`
	Host   string   `json:"host"`
	Key    fact.Key `json:"-"`
	By     string   `json:"by"`
	Reason string   `json:"reason"`
	At     int64    `json:"at_unix_nano"`
}

// The bucket of one group under bucketGroupBaselines holds keyGroupRecord
// and two sub-buckets: the baseline's facts by fact.Key.Encode(), and
// exceptions by uvarint length + host id + fact.Key.Encode().
var (
	keyGroupRecord        = []byte("record")
	bucketGroupFacts      = []byte("facts")
	bucketGroupExceptions = []byte("exceptions")
)

// group returns the group's bucket, or nil; create makes it.
func (t *boltTx) group(name string, create bool) (*bolt.Bucket, error) {
	top := t.tx.Bucket(bucketGroupBaselines)
	b := top.Bucket([]byte(name))
	if b != nil || !create {
		return b, nil
	}
	if name == "" {
		return nil, errors.New("empty group name")
	}
	b, err := top.CreateBucket([]byte(name))
	if err != nil {
		return nil, fmt.Errorf("create group %q: %w", name, err)
	}
	for _, sub := range [][]byte{bucketGroupFacts, bucketGroupExceptions} {
		if _, err := b.CreateBucket(sub); err != nil {
			return nil, fmt.Errorf("create group %q: %w", name, err)
		}
	}
	return b, nil
}

func (t *boltTx) groupSub(group string, sub []byte, create bool) (*bolt.Bucket, error) {
	b, err := t.group(group, create)
	if b == nil || err != nil {
		return nil, err
	}
	return b.Bucket(sub), nil
}

func (t *boltTx) GroupBaseline(group string) (*GroupBaseline, error) {
	b, _ := t.group(group, false)
	if b == nil || b.Get(keyGroupRecord) == nil {
		return nil, fmt.Errorf("group %q baseline: %w", group, ErrNotFound)
	}
	v := &GroupBaseline{}
	if err := json.Unmarshal(b.Get(keyGroupRecord), v); err != nil {
		return nil, fmt.Errorf("decode group %q baseline: %w", group, err)
	}
	return v, nil
}

func (t *boltTx) PutGroupBaseline(g *GroupBaseline) error {
	b, err := t.group(g.Group, true)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("encode group %q baseline: %w", g.Group, err)
	}
	return b.Put(keyGroupRecord, raw)
}

func (t *boltTx) GroupBaselineFact(group string, k fact.Key) (*plumbv1.Fact, error) {
	b, err := t.groupSub(group, bucketGroupFacts, false)
	if err != nil {
		return nil, err
	}
	var v []byte
	if b != nil {
		v = b.Get(k.Encode())
	}
	if v == nil {
		return nil, fmt.Errorf("group %q baseline %s: %w", group, k, ErrNotFound)
	}
	f := &plumbv1.Fact{}
	if err := proto.Unmarshal(v, f); err != nil {
		return nil, fmt.Errorf("decode group %q baseline %s: %w", group, k, err)
	}
	return f, nil
}

func (t *boltTx) GroupBaselineFacts(group string, fn func(*plumbv1.Fact) error) error {
	b, err := t.groupSub(group, bucketGroupFacts, false)
	if b == nil || err != nil {
		return err
	}
	return b.ForEach(func(k, v []byte) error {
		f := &plumbv1.Fact{}
		if err := proto.Unmarshal(v, f); err != nil {
			return fmt.Errorf("decode group %q baseline fact: %w", group, err)
		}
		return fn(f)
	})
}

func (t *boltTx) PutGroupBaselineFact(group string, f *plumbv1.Fact) error {
	k := fact.KeyOf(f)
	if k.Kind == plumbv1.FactKind_FACT_KIND_UNSPECIFIED {
		return fmt.Errorf("put group %q baseline: fact kind unspecified", group)
	}
	b, err := t.groupSub(group, bucketGroupFacts, true)
	if err != nil {
		return err
	}
	v, err := proto.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode group %q baseline %s: %w", group, k, err)
	}
	return b.Put(k.Encode(), v)
}

func (t *boltTx) DeleteGroupBaselineFact(group string, k fact.Key) error {
	b, err := t.groupSub(group, bucketGroupFacts, false)
	if b == nil || err != nil {
		return err
	}
	return b.Delete(k.Encode())
}

func exceptionKey(host string, k fact.Key) []byte {
	b := binary.AppendUvarint(nil, uint64(len(host)))
	b = append(b, host...)
	return append(b, k.Encode()...)
}

// exceptionRecord is GroupException as stored: the key in its encoded form.
type exceptionRecord struct {
	GroupException
	Key []byte `json:"key"`
}

func (t *boltTx) GroupException(group, host string, k fact.Key) (*GroupException, error) {
	b, err := t.groupSub(group, bucketGroupExceptions, false)
	if err != nil {
		return nil, err
	}
	var v []byte
	if b != nil {
		v = b.Get(exceptionKey(host, k))
	}
	if v == nil {
		return nil, fmt.Errorf("group %q exception of host %q %s: %w", group, host, k, ErrNotFound)
	}
	return decodeException(v)
}

func decodeException(v []byte) (*GroupException, error) {
	r := &exceptionRecord{}
	if err := json.Unmarshal(v, r); err != nil {
		return nil, fmt.Errorf("decode group exception: %w", err)
	}
	k, err := fact.DecodeKey(r.Key)
	if err != nil {
		return nil, fmt.Errorf("decode group exception key: %w", err)
	}
	r.GroupException.Key = k
	return &r.GroupException, nil
}

func (t *boltTx) GroupExceptions(group string, fn func(*GroupException) error) error {
	b, err := t.groupSub(group, bucketGroupExceptions, false)
	if b == nil || err != nil {
		return err
	}
	return b.ForEach(func(_, v []byte) error {
		e, err := decodeException(v)
		if err != nil {
			return err
		}
		return fn(e)
	})
}

func (t *boltTx) PutGroupException(e *GroupException) error {
	if e.Host == "" {
		return errors.New("put group exception: empty host id")
	}
	b, err := t.groupSub(e.Group, bucketGroupExceptions, true)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(&exceptionRecord{GroupException: *e, Key: e.Key.Encode()})
	if err != nil {
		return err
	}
	return b.Put(exceptionKey(e.Host, e.Key), raw)
}

func (t *boltTx) DeleteGroupException(group, host string, k fact.Key) error {
	b, err := t.groupSub(group, bucketGroupExceptions, false)
	if b == nil || err != nil {
		return err
	}
	return b.Delete(exceptionKey(host, k))
}
