package source

import (
	"cmp"
	"hash/maphash"
	"slices"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// keySet is the set of keys a snapshot has seen. It grows with the number
// of facts in the snapshot's scope, and must: a fact not seen by the end
// is deleted, and what was seen is known only once the walk is done. So
// it holds 16 bytes per key, not the key: two independently seeded 64-bit
// hashes, appended to one slice (a map would double that at each growth)
// and sorted once when first asked. Two keys of one snapshot share both
// hashes only with a probability of about n²/2¹²⁹ (10⁻²⁷ for a million
// files), and the seeds are random per set, so no one can choose names
// that collide.
type keySet struct {
	seeds  [2]maphash.Seed
	sums   [][2]uint64
	sorted bool
}

func newKeySet() *keySet {
	return &keySet{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
}

func (s *keySet) sum(k fact.Key) [2]uint64 {
	return [2]uint64{maphash.Comparable(s.seeds[0], k), maphash.Comparable(s.seeds[1], k)}
}

func (s *keySet) add(k fact.Key) {
	s.sums = append(s.sums, s.sum(k))
	s.sorted = false
}

func (s *keySet) has(k fact.Key) bool {
	if !s.sorted {
		slices.SortFunc(s.sums, compareSums)
		s.sums = slices.CompactFunc(s.sums, func(a, b [2]uint64) bool { return a == b })
		s.sorted = true
	}
	_, ok := slices.BinarySearchFunc(s.sums, s.sum(k), compareSums)
	return ok
}

func compareSums(a, b [2]uint64) int {
	if c := cmp.Compare(a[0], b[0]); c != 0 {
		return c
	}
	return cmp.Compare(a[1], b[1])
}
