package fact

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// SetDigest is an order-independent digest of a set of facts: per bucket,
// the sum mod 2^256 of SHA-256(kind ‖ key ‖ digest) over the bucket's facts.
// Adding or removing one fact costs one hash and one 256-bit addition, so
// both sides keep it current in O(1) per delta, and comparing bucket sums
// tells which buckets to resync.
//
// The zero value is the digest of the empty set.
type SetDigest struct {
	buckets [BucketCount]sum256
}

// sum256 is a 256-bit unsigned integer as four big-endian 64-bit limbs.
type sum256 [4]uint64

func element(k Key, digest []byte) sum256 {
	// One call per delta on both sides: hashed from a stack buffer, with
	// no allocation, unless the key is long.
	var buf [256]byte
	b := append(buf[:0], byte(k.Kind))
	b = binary.AppendUvarint(b, uint64(len(k.ID)))
	b = append(b, k.ID...)
	b = append(b, digest...)
	sum := sha256.Sum256(b)
	return fromBytes(sum[:])
}

func fromBytes(b []byte) sum256 {
	var s sum256
	for i := range s {
		s[i] = binary.BigEndian.Uint64(b[i*8:])
	}
	return s
}

func (s sum256) bytes() []byte {
	b := make([]byte, 32)
	for i := range s {
		binary.BigEndian.PutUint64(b[i*8:], s[i])
	}
	return b
}

func (s *sum256) add(o sum256) {
	var carry uint64
	for i := 3; i >= 0; i-- {
		a := s[i]
		r := a + o[i] + carry
		// carry out if the sum wrapped
		if r < a || (carry == 1 && r == a) {
			carry = 1
		} else {
			carry = 0
		}
		s[i] = r
	}
}

func (s *sum256) sub(o sum256) {
	var borrow uint64
	for i := 3; i >= 0; i-- {
		a := s[i]
		r := a - o[i] - borrow
		if a < o[i] || (borrow == 1 && a == o[i]) {
			borrow = 1
		} else {
			borrow = 0
		}
		s[i] = r
	}
}

// Add accounts for a fact with key k and digest d.
func (s *SetDigest) Add(k Key, d []byte) {
	s.buckets[k.Bucket()].add(element(k, d))
}

// Remove undoes Add(k, d).
func (s *SetDigest) Remove(k Key, d []byte) {
	s.buckets[k.Bucket()].sub(element(k, d))
}

// Merge adds every fact o accounts for, as if each had been added to s:
// digests of disjoint sets, built apart (on several cores), merge into
// the digest of their union.
func (s *SetDigest) Merge(o *SetDigest) {
	for i := range s.buckets {
		s.buckets[i].add(o.buckets[i])
	}
}

// Replace accounts for k changing from digest old to digest new. A nil old
// means the fact is new; a nil new means it is gone.
func (s *SetDigest) Replace(k Key, old, new []byte) {
	if old == nil && new == nil {
		return
	}
	b := &s.buckets[k.Bucket()] // one hash of the key for both
	if old != nil {
		b.sub(element(k, old))
	}
	if new != nil {
		b.add(element(k, new))
	}
}

// Sum returns the digest of the whole set: the sum of the bucket sums.
func (s *SetDigest) Sum() []byte {
	var t sum256
	for i := range s.buckets {
		t.add(s.buckets[i])
	}
	return t.bytes()
}

// Bucket returns bucket i's sum; nil if i is out of range.
func (s *SetDigest) Bucket(i uint32) []byte {
	if i >= BucketCount {
		return nil
	}
	return s.buckets[i].bytes()
}

// Empty reports whether bucket i holds the empty set's sum: no fact is in
// it (the sum of a non-empty set is zero only by a SHA-256 collision).
// Out of range, it reports false.
func (s *SetDigest) Empty(i uint32) bool {
	return i < BucketCount && s.buckets[i] == sum256{}
}

// Buckets returns every bucket's sum, indexed by bucket number.
func (s *SetDigest) Buckets() [][]byte {
	out := make([][]byte, BucketCount)
	for i := range s.buckets {
		out[i] = s.buckets[i].bytes()
	}
	return out
}

// ErrBucketRange is returned for a bucket number not below BucketCount,
// which only a confused or hostile peer sends.
var ErrBucketRange = fmt.Errorf("bucket out of range (want < %d)", BucketCount)

// ResetBucket sets bucket i to the empty set. An out-of-range i changes
// nothing and returns ErrBucketRange: a number a peer sent must not crash
// the process that holds the digest.
func (s *SetDigest) ResetBucket(i uint32) error {
	if i >= BucketCount {
		return fmt.Errorf("%w: %d", ErrBucketRange, i)
	}
	s.buckets[i] = sum256{}
	return nil
}

// MarshalBinary returns the bucket sums, 32 bytes each, for storage.
func (s *SetDigest) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, BucketCount*32)
	for i := range s.buckets {
		b = append(b, s.buckets[i].bytes()...)
	}
	return b, nil
}

// UnmarshalBinary is the inverse of MarshalBinary.
func (s *SetDigest) UnmarshalBinary(b []byte) error {
	if len(b) != BucketCount*32 {
		return fmt.Errorf("set digest: %d bytes, want %d", len(b), BucketCount*32)
	}
	for i := range s.buckets {
		s.buckets[i] = fromBytes(b[i*32:])
	}
	return nil
}

// DiffBuckets returns the buckets whose sums differ between s and the
// other side's bucket sums. A list of the wrong length differs everywhere.
func (s *SetDigest) DiffBuckets(other [][]byte) []uint32 {
	var out []uint32
	for i := range s.buckets {
		if len(other) != BucketCount || len(other[i]) != 32 || fromBytes(other[i]) != s.buckets[i] {
			out = append(out, uint32(i))
		}
	}
	return out
}
