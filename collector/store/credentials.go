package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// JoinToken is an enrollment credential. Only a hash of its secret is
// kept; the token's id (not secret) names it.
type JoinToken struct {
	ID        string `json:"id"`
	Hash      []byte `json:"hash"` // SHA-256 of the secret
	Created   int64  `json:"created_unix_nano"`
	Expires   int64  `json:"expires_unix_nano"`
	UsesLeft  uint32 `json:"uses_left"`
	CreatedBy string `json:"created_by"`
}

// APIToken is a bearer credential for the query and admin APIs.
type APIToken struct {
	ID        string `json:"id"`
	Hash      []byte `json:"hash"` // SHA-256 of the secret
	Name      string `json:"name"` // recorded as who did what
	Role      int32  `json:"role"` // plumbv1.Role
	Created   int64  `json:"created_unix_nano"`
	Expires   int64  `json:"expires_unix_nano"` // 0: never
	CreatedBy string `json:"created_by"`
}

// Identity is a host's enrolled key. A host id has at most one; another
// key is refused and recorded as a clash until an admin revokes it.
type Identity struct {
	HostID   string `json:"host_id"`
	KeyPin   string `json:"key_pin"`
	Enrolled int64  `json:"enrolled_unix_nano"`
	NotAfter int64  `json:"cert_not_after_unix_nano"`

	Revoked   bool   `json:"revoked,omitempty"`
	RevokedAt int64  `json:"revoked_unix_nano,omitempty"`
	RevokedBy string `json:"revoked_by,omitempty"`

	Clashes     uint64 `json:"clashes,omitempty"`
	ClashKeyPin string `json:"clash_key_pin,omitempty"`
	ClashAt     int64  `json:"clash_unix_nano,omitempty"`
	ClashReason string `json:"clash_reason,omitempty"`
}

// Quarantined reports whether another key has tried to be this host since
// it enrolled.
func (i *Identity) Quarantined() bool { return !i.Revoked && i.Clashes > 0 }

func (t *boltTx) JoinToken(id string) (*JoinToken, error) {
	v := &JoinToken{}
	if err := t.getRecord(bucketJoinTokens, id, v); err != nil {
		return nil, err
	}
	return v, nil
}

func (t *boltTx) PutJoinToken(v *JoinToken) error {
	return t.putRecord(bucketJoinTokens, v.ID, v)
}

func (t *boltTx) DeleteJoinToken(id string) error {
	return t.tx.Bucket(bucketJoinTokens).Delete([]byte(id))
}

func (t *boltTx) JoinTokens(fn func(*JoinToken) error) error {
	return forRecords(t.tx.Bucket(bucketJoinTokens), func() *JoinToken { return &JoinToken{} }, fn)
}

func (t *boltTx) APIToken(id string) (*APIToken, error) {
	v := &APIToken{}
	if err := t.getRecord(bucketAPITokens, id, v); err != nil {
		return nil, err
	}
	return v, nil
}

func (t *boltTx) PutAPIToken(v *APIToken) error {
	return t.putRecord(bucketAPITokens, v.ID, v)
}

func (t *boltTx) DeleteAPIToken(id string) error {
	return t.tx.Bucket(bucketAPITokens).Delete([]byte(id))
}

func (t *boltTx) APITokens(fn func(*APIToken) error) error {
	return forRecords(t.tx.Bucket(bucketAPITokens), func() *APIToken { return &APIToken{} }, fn)
}

func (t *boltTx) APITokensAfter(after string, fn func(*APIToken) error) error {
	return forRecordsAfter(t.tx.Bucket(bucketAPITokens), after, func() *APIToken { return &APIToken{} }, fn)
}

func (t *boltTx) Identity(host string) (*Identity, error) {
	v := &Identity{}
	if err := t.getRecord(bucketIdentities, host, v); err != nil {
		return nil, err
	}
	return v, nil
}

func (t *boltTx) PutIdentity(v *Identity) error {
	return t.putRecord(bucketIdentities, v.HostID, v)
}

func (t *boltTx) Identities(fn func(*Identity) error) error {
	return forRecords(t.tx.Bucket(bucketIdentities), func() *Identity { return &Identity{} }, fn)
}

func (t *boltTx) getRecord(bucket []byte, id string, v any) error {
	b := t.tx.Bucket(bucket).Get([]byte(id))
	if b == nil {
		return fmt.Errorf("%s %q: %w", bucket, id, ErrNotFound)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s %q: %w", bucket, id, err)
	}
	return nil
}

func (t *boltTx) putRecord(bucket []byte, id string, v any) error {
	if id == "" {
		return fmt.Errorf("put %s: empty id", bucket)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s %q: %w", bucket, id, err)
	}
	if err := t.tx.Bucket(bucket).Put([]byte(id), b); err != nil {
		return fmt.Errorf("put %s %q: %w", bucket, id, err)
	}
	return nil
}

func forRecords[T any](b *bolt.Bucket, alloc func() *T, fn func(*T) error) error {
	return forRecordsAfter(b, "", alloc, fn)
}

// forRecordsAfter calls fn for each record of b in id order, starting
// after id after ("": from the first).
func forRecordsAfter[T any](b *bolt.Bucket, after string, alloc func() *T, fn func(*T) error) error {
	c := b.Cursor()
	k, raw := c.First()
	if after != "" {
		if k, raw = c.Seek([]byte(after)); k != nil && string(k) == after {
			k, raw = c.Next()
		}
	}
	for ; k != nil; k, raw = c.Next() {
		v := alloc()
		if err := json.Unmarshal(raw, v); err != nil {
			return fmt.Errorf("decode %q: %w", k, err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}
