package store

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Lease is a named, time-bounded claim held by one collector, so that work
// only one collector may do at a time (delivering a notifier's webhooks)
// moves to another when its holder dies. Times are unix nano on the
// claiming collector's clock; collectors sharing a database must keep
// their clocks in step far better than a lease's length.
type Lease struct {
	Name   string `json:"name"`
	Holder string `json:"holder"`
	Until  int64  `json:"until_unix_nano"`
}

func (t *boltTx) Lease(name string) (*Lease, error) {
	raw := t.tx.Bucket(bucketLeases).Get([]byte(name))
	if raw == nil {
		return nil, fmt.Errorf("lease %q: %w", name, ErrNotFound)
	}
	l := &Lease{}
	if err := json.Unmarshal(raw, l); err != nil {
		return nil, fmt.Errorf("decode lease %q: %w", name, err)
	}
	return l, nil
}

// ClaimLease: bbolt's Update is the only writer, so the read-then-write
// below is atomic.
func (t *boltTx) ClaimLease(name, holder string, now, until int64) (bool, error) {
	if name == "" || holder == "" {
		return false, fmt.Errorf("lease: empty name or holder")
	}
	cur, err := t.Lease(name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	if cur != nil && cur.Holder != holder && cur.Until > now {
		return false, nil
	}
	raw, err := json.Marshal(&Lease{Name: name, Holder: holder, Until: until})
	if err != nil {
		return false, err
	}
	if err := t.tx.Bucket(bucketLeases).Put([]byte(name), raw); err != nil {
		return false, fmt.Errorf("put lease %q: %w", name, err)
	}
	return true, nil
}

func (t *boltTx) ReleaseLease(name, holder string) error {
	cur, err := t.Lease(name)
	if errors.Is(err, ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if cur.Holder != holder {
		return nil
	}
	return t.tx.Bucket(bucketLeases).Delete([]byte(name))
}

func (t *boltTx) Secret(name string) ([]byte, error) {
	raw := t.tx.Bucket(bucketSecrets).Get([]byte(name))
	if raw == nil {
		return nil, fmt.Errorf("secret %q: %w", name, ErrNotFound)
	}
	return append([]byte(nil), raw...), nil
}

func (t *boltTx) PutSecret(name string, value []byte) error {
	if name == "" {
		return fmt.Errorf("secret: empty name")
	}
	if err := t.tx.Bucket(bucketSecrets).Put([]byte(name), value); err != nil {
		return fmt.Errorf("put secret %q: %w", name, err)
	}
	return nil
}
