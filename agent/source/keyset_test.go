package source

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

func TestKeySet(t *testing.T) {
	s := newKeySet()
	file := func(i int) fact.Key {
		return fact.Key{Kind: plumbv1.FactKind_FACT_KIND_FILE, ID: "/etc/d" + strconv.Itoa(i/100) + "/f" + strconv.Itoa(i)}
	}
	const n = 100000
	for i := 0; i < n; i += 2 {
		s.add(file(i))
	}
	for i := range n {
		if got := s.has(file(i)); got != (i%2 == 0) {
			t.Fatalf("has(%s) = %v", file(i).ID, got)
		}
	}
	// The kind is part of the key.
	k := file(0)
	k.Kind = plumbv1.FactKind_FACT_KIND_PACKAGE
	if s.has(k) {
		t.Fatal("a package key with a seen file's id counts as seen")
	}
}

// Adding after asking, and adding a key twice, keep the set a set.
func TestKeySetAddAfterHas(t *testing.T) {
	s := newKeySet()
	a := fact.Key{Kind: plumbv1.FactKind_FACT_KIND_FILE, ID: "/a"}
	b := fact.Key{Kind: plumbv1.FactKind_FACT_KIND_FILE, ID: "/b"}
	s.add(a)
	s.add(a)
	if !s.has(a) || s.has(b) {
		t.Fatal("after adding /a twice")
	}
	s.add(b)
	if !s.has(a) || !s.has(b) {
		t.Fatal("after adding /b")
	}
}

// TestSortSums sorts seeded inputs (random, few distinct first words,
// already sorted, reversed, tiny) and checks against slices.SortFunc: the
// same multiset, ordered by first word.
func TestSortSums(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 9))
	for round := range 200 {
		n := rng.IntN(3000)
		s := make([][2]uint64, n)
		for i := range s {
			switch round % 4 {
			case 0:
				s[i] = [2]uint64{rng.Uint64(), rng.Uint64()}
			case 1:
				s[i] = [2]uint64{uint64(rng.IntN(5)), uint64(rng.IntN(3))}
			case 2:
				s[i] = [2]uint64{uint64(i), rng.Uint64()}
			case 3:
				s[i] = [2]uint64{uint64(n - i), 0}
			}
		}
		want := slices.Clone(s)
		slices.SortFunc(want, func(a, b [2]uint64) int {
			if c := cmp.Compare(a[0], b[0]); c != 0 {
				return c
			}
			return cmp.Compare(a[1], b[1])
		})
		sortSums(s)
		if !slices.IsSortedFunc(s, func(a, b [2]uint64) int { return cmp.Compare(a[0], b[0]) }) {
			t.Fatalf("round %d (n=%d): not sorted by first word", round, n)
		}
		got := slices.Clone(s)
		slices.SortFunc(got, func(a, b [2]uint64) int {
			if c := cmp.Compare(a[0], b[0]); c != 0 {
				return c
			}
			return cmp.Compare(a[1], b[1])
		})
		if !slices.Equal(got, want) {
			t.Fatalf("round %d (n=%d): elements changed", round, n)
		}
	}
}
