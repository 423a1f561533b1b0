package fact

import (
	"crypto/sha256"
	"fmt"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// Key identifies a fact on one host. ID holds raw bytes in a string so that
// a Key is comparable and usable as a map key.
type Key struct {
	Kind plumbv1.FactKind
	ID   string
}

// KeyOf returns the key of f.
func KeyOf(f *plumbv1.Fact) Key {
	return Key{Kind: f.GetKind(), ID: string(f.GetKey())}
}

// FromProto converts a wire key.
func FromProto(k *plumbv1.FactKey) Key {
	return Key{Kind: k.GetKind(), ID: string(k.GetKey())}
}

// Proto returns the wire form of k.
func (k Key) Proto() *plumbv1.FactKey {
	return &plumbv1.FactKey{Kind: k.Kind, Key: []byte(k.ID)}
}

// Encode returns the storage form of k: one byte of kind, then the key bytes.
// Keys of one kind sort together, in byte order of their IDs.
func (k Key) Encode() []byte {
	b := make([]byte, 1+len(k.ID))
	b[0] = byte(k.Kind)
	copy(b[1:], k.ID)
	return b
}

// DecodeKey is the inverse of Key.Encode.
func DecodeKey(b []byte) (Key, error) {
	if len(b) < 1 {
		return Key{}, fmt.Errorf("fact key: empty")
	}
	return Key{Kind: plumbv1.FactKind(b[0]), ID: string(b[1:])}, nil
}

// String returns "kind:display-key", for logs.
func (k Key) String() string {
	return KindName(k.Kind) + ":" + Display([]byte(k.ID))
}

// BucketCount is how many buckets the set digest keeps. Agent and collector
// must agree on it; it travels in the hello so a mismatch is detected.
const BucketCount = 256

// Bucket returns the set-digest bucket k falls in. It depends on the key
// only, never the value, so a fact stays in its bucket as it changes.
func (k Key) Bucket() uint32 {
	// The encoded key, on the stack when it is short: a resync scan asks
	// this of every fact of a host.
	var buf [256]byte
	var b []byte
	if n := 1 + len(k.ID); n <= len(buf) {
		b = buf[:n]
	} else {
		b = make([]byte, n)
	}
	b[0] = byte(k.Kind)
	copy(b[1:], k.ID)
	return BucketOf(b)
}

// BucketOf returns the bucket of the key whose storage form (Key.Encode)
// is encoded, without decoding it: the first byte of its SHA-256, modulo
// BucketCount.
func BucketOf(encoded []byte) uint32 {
	sum := sha256.Sum256(encoded)
	return uint32(sum[0]) % BucketCount
}
