// Package factwiretest makes seeded file facts for the tests of hand
// codecs held to proto's.
package factwiretest

import (
	"math"
	"math/rand/v2"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// RandomFile returns a file fact with seeded field values, edge values
// (zero, negative, maximal, empty bytes, a key past 127 bytes) among
// them; two in three are sealed.
func RandomFile(rng *rand.Rand) *plumbv1.Fact {
	i64 := func() int64 {
		switch rng.IntN(5) {
		case 0:
			return 0
		case 1:
			return -rng.Int64()
		case 2:
			return math.MaxInt64
		}
		return rng.Int64()
	}
	bs := func(n int) []byte {
		if rng.IntN(4) == 0 {
			return nil
		}
		b := make([]byte, rng.IntN(n+1))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	a := &plumbv1.FileAttrs{
		Type: plumbv1.FileType(rng.IntN(8)), Mode: rng.Uint32(), Uid: rng.Uint32(), Gid: rng.Uint32(),
		Size: i64(), Sha256: bs(32), LinkTarget: bs(300),
		MtimeUnixNano: i64(), CtimeUnixNano: i64(), Inode: rng.Uint64(), Device: rng.Uint64(),
	}
	f := &plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: bs(200), Attrs: &plumbv1.Fact_File{File: a},
		ObservedUnixNano: i64()}
	if rng.IntN(3) > 0 {
		f = fact.Seal(f)
	}
	return f
}
