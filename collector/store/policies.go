package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// Policy is one applied version of the declared expectations (the YAML
// policy), kept for the audit trail: what was in force, who applied it,
// when.
type Policy struct {
	// Version is 1 for the first policy applied, one more for each after.
	Version   uint64 `json:"version"`
	Author    string `json:"author"`
	AppliedAt int64  `json:"applied_at_unix_nano"`
	YAML      string `json:"yaml"`
	Rules     int    `json:"rules"`
}

func policyKey(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func (t *boltTx) Policy(version uint64) (*Policy, error) {
	raw := t.tx.Bucket(bucketPolicies).Get(policyKey(version))
	if raw == nil {
		return nil, fmt.Errorf("policy version %d: %w", version, ErrNotFound)
	}
	p := &Policy{}
	if err := json.Unmarshal(raw, p); err != nil {
		return nil, fmt.Errorf("decode policy version %d: %w", version, err)
	}
	return p, nil
}

func (t *boltTx) LatestPolicy() (*Policy, error) {
	k, _ := t.tx.Bucket(bucketPolicies).Cursor().Last()
	if k == nil {
		return nil, fmt.Errorf("policy: %w", ErrNotFound)
	}
	return t.Policy(binary.BigEndian.Uint64(k))
}

func (t *boltTx) PoliciesBefore(before uint64, fn func(*Policy) error) error {
	c := t.tx.Bucket(bucketPolicies).Cursor()
	var k, raw []byte
	if before == 0 {
		k, raw = c.Last()
	} else if sk, _ := c.Seek(policyKey(before)); sk == nil {
		k, raw = c.Last() // every version is below before
	} else {
		k, raw = c.Prev()
	}
	for ; k != nil; k, raw = c.Prev() {
		p := &Policy{}
		if err := json.Unmarshal(raw, p); err != nil {
			return fmt.Errorf("decode policy %x: %w", k, err)
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

func (t *boltTx) PutPolicy(p *Policy) error {
	if p.Version == 0 {
		return fmt.Errorf("put policy: version 0")
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode policy %d: %w", p.Version, err)
	}
	return t.tx.Bucket(bucketPolicies).Put(policyKey(p.Version), b)
}
