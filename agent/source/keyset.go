package source

import (
	"hash/maphash"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// keySet is the set of keys a snapshot has seen. It grows with the number
// of facts in the snapshot's scope, and must: a fact not seen by the end
// is deleted, and what was seen is known only once the walk is done. So
// it holds 16 bytes per key, not the key: two independently seeded 64-bit
// hashes. Two keys of one snapshot share both only with a probability
// of about n²/2¹²⁹ (10⁻²⁷ for a million files), and the seeds are random
// per set, so no one can choose names that collide.
type keySet struct {
	seeds [2]maphash.Seed
	m     map[[2]uint64]struct{}
}

func newKeySet() *keySet {
	return &keySet{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, m: map[[2]uint64]struct{}{}}
}

func (s *keySet) sum(k fact.Key) [2]uint64 {
	return [2]uint64{maphash.Comparable(s.seeds[0], k), maphash.Comparable(s.seeds[1], k)}
}

func (s *keySet) add(k fact.Key) { s.m[s.sum(k)] = struct{}{} }

func (s *keySet) has(k fact.Key) bool {
	_, ok := s.m[s.sum(k)]
	return ok
}
