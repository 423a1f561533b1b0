package state

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// randomFileFact returns a sealed file fact with seeded field values,
// edge values (zero, negative, maximal, empty bytes) among them.
func randomFileFact(rng *rand.Rand) *plumbv1.Fact {
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

// TestDecodeFileFactMatchesProto decodes seeded file facts, and facts the
// hand decoder must leave to proto.Unmarshal (a diff, a package), both
// ways: the results must be equal, and the hand decoder must have taken
// every plain file fact.
func TestDecodeFileFactMatchesProto(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 5))
	for i := range 2000 {
		f := randomFileFact(rng)
		plain := true
		switch i % 10 {
		case 7:
			f.GetFile().Content = &plumbv1.ContentChange{State: plumbv1.ContentState_CONTENT_STATE_DIFF, UnifiedDiff: "-a\n+b\n"}
			plain = false
		case 8:
			f.Attrs = &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: "1.0"}}
			plain = false
		}
		b, err := proto.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		want := &plumbv1.Fact{}
		if err := proto.Unmarshal(b, want); err != nil {
			t.Fatal(err)
		}
		got, ok := decodeFileFact(b)
		if ok != plain {
			t.Fatalf("fact %d: hand decoder took it: %v, want %v (%v)", i, ok, plain, f)
		}
		if ok && !proto.Equal(got, want) {
			t.Fatalf("fact %d:\nhand  %v\nproto %v", i, got, want)
		}
		if got, err := decodeFact(b); err != nil || !proto.Equal(got, want) {
			t.Fatalf("fact %d: decodeFact %v, %v; want %v", i, got, err, want)
		}
	}
}

// FuzzDecodeFileFact: whatever bytes the hand decoder accepts, proto
// accepts too and decodes to an equal fact.
func FuzzDecodeFileFact(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		b, err := proto.Marshal(randomFileFact(rng))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decodeFileFact(b)
		if !ok {
			return
		}
		want := &plumbv1.Fact{}
		if err := proto.Unmarshal(b, want); err != nil {
			t.Fatalf("hand decoder took what proto refuses (%v): %x", err, b)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("hand %v, proto %v", got, want)
		}
	})
}

// TestAppendDeltaIsProtoMarshal: a delta encoded around its fact's
// encoding is, byte for byte, what proto.Marshal makes of it.
func TestAppendDeltaIsProtoMarshal(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 17))
	for i := range 1000 {
		d := &plumbv1.Delta{Op: plumbv1.DeltaOp(rng.IntN(4)), Fact: randomFileFact(rng)}
		if rng.IntN(2) == 0 {
			d.Seq = rng.Uint64()
		}
		if rng.IntN(3) == 0 {
			d.ObservedUnixNano = rng.Int64() - math.MaxInt64/2
		}
		if rng.IntN(5) == 0 {
			d.SetDigest, d.FactCount = make([]byte, 32), rng.Uint64()
		}
		if rng.IntN(5) == 0 {
			d.PackageChange = &plumbv1.PackageChange{Package: "bash", OldVersion: "5.1", NewVersion: "5.2", Manager: "dpkg", Files: rng.Uint32()}
		}
		fb, err := proto.Marshal(d.GetFact())
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendDelta(nil, d, fb)
		if err != nil {
			t.Fatal(err)
		}
		want, err := proto.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("delta %d %v:\nappendDelta %x\nproto       %x", i, d, got, want)
		}
	}
}
