package source

import (
	"strconv"
	"testing"

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
