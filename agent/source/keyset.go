package source

import (
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
		sortSums(s.sums)
		s.sums = slices.Compact(s.sums)
		s.sorted = true
	}
	x := s.sum(k)
	// The first sum with a first word ≥ x's, then those with x's first
	// word (two keys share one only with a probability of ~n²/2⁶⁵).
	lo, hi := 0, len(s.sums)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.sums[m][0] < x[0] {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for ; lo < len(s.sums) && s.sums[lo][0] == x[0]; lo++ {
		if s.sums[lo][1] == x[1] {
			return true
		}
	}
	return false
}

// sortSums sorts sums by their first word, which is all has needs: a
// quicksort with the comparison inlined, where slices.SortFunc's call
// per comparison was half of a rescan's sweep. Equal sums end up next to
// each other unless another sum with the same first word falls between
// them, which only costs a duplicate. The sums are keyed hashes, so no
// input can be chosen to make the pivots bad.
func sortSums(s [][2]uint64) {
	for len(s) > 16 {
		// Median of three as the pivot, then Hoare's partition.
		a, b, c := s[0][0], s[len(s)/2][0], s[len(s)-1][0]
		p := max(min(a, b), min(max(a, b), c))
		i, j := 0, len(s)-1
		for {
			for s[i][0] < p {
				i++
			}
			for s[j][0] > p {
				j--
			}
			if i >= j {
				break
			}
			s[i], s[j] = s[j], s[i]
			i++
			j--
		}
		// Recurse into the smaller part, loop on the larger: the stack
		// stays logarithmic.
		if j+1 < len(s)-j-1 {
			sortSums(s[:j+1])
			s = s[j+1:]
		} else {
			sortSums(s[j+1:])
			s = s[:j+1]
		}
	}
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j][0] < s[j-1][0]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
