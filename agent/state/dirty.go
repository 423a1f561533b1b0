package state

import (
	"math/bits"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// dirtySet is the set-digest buckets whose deltas were dropped from the
// spool after a checkpoint (see shrink.go): the collector lacks changes in
// them that no spooled delta carries, so they are resynced once no
// checkpoint is pending. Stored in meta under keyDirty.
type dirtySet [fact.BucketCount / 64]uint64

func (s *dirtySet) set(b uint32)      { s[b/64] |= 1 << (b % 64) }
func (s *dirtySet) clear(b uint32)    { s[b/64] &^= 1 << (b % 64) }
func (s *dirtySet) has(b uint32) bool { return s[b/64]&(1<<(b%64)) != 0 }
func (s *dirtySet) empty() bool       { return s.count() == 0 }

func (s *dirtySet) count() int {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return n
}

// buckets lists the set's buckets in order.
func (s *dirtySet) buckets() []uint32 {
	var out []uint32
	for b := uint32(0); b < fact.BucketCount; b++ {
		if s.has(b) {
			out = append(out, b)
		}
	}
	return out
}

func (s *dirtySet) encode() []byte {
	out := make([]byte, 0, len(s)*8)
	for _, w := range s {
		out = append(out, u64(w)...)
	}
	return out
}

// decodeDirty reads a stored set; anything malformed reads as every bucket
// dirty, which costs a full resync and loses nothing.
func decodeDirty(b []byte) dirtySet {
	var s dirtySet
	if b == nil {
		return s
	}
	if len(b) != len(s)*8 {
		for i := range s {
			s[i] = ^uint64(0)
		}
		return s
	}
	for i := range s {
		s[i] = getU64(b[i*8 : i*8+8])
	}
	return s
}
