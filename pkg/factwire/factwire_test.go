package factwire

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/factwire/factwiretest"
)

// notPlain makes f one the hand codec must leave to proto, by the case i
// of four; it returns false for the cases that leave f plain.
func notPlain(f *plumbv1.Fact, i int) bool {
	switch i % 10 {
	case 6:
		f.GetFile().Content = &plumbv1.ContentChange{State: plumbv1.ContentState_CONTENT_STATE_DIFF, UnifiedDiff: "-a\n+b\n"}
	case 7:
		f.Attrs = &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: "1.0"}}
	case 8:
		// A field a newer agent knows and this build does not.
		f.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 7))
	case 9:
		f.GetFile().ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 98, protowire.VarintType), 7))
	default:
		return false
	}
	return true
}

// TestDecodeFileMatchesProto decodes seeded file facts, and facts the hand
// decoder must leave to proto.Unmarshal, both ways: the results must be
// equal, and the hand decoder must have taken every plain file fact.
func TestDecodeFileMatchesProto(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 5))
	for i := range 2000 {
		f := factwiretest.RandomFile(rng)
		plain := !notPlain(f, i)
		b, err := proto.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		want := &plumbv1.Fact{}
		if err := proto.Unmarshal(b, want); err != nil {
			t.Fatal(err)
		}
		got, ok := DecodeFile(b)
		if ok != plain {
			t.Fatalf("fact %d: hand decoder took it: %v, want %v (%v)", i, ok, plain, f)
		}
		if ok && !proto.Equal(got, want) {
			t.Fatalf("fact %d:\nhand  %v\nproto %v", i, got, want)
		}
		if got, err := Unmarshal(b); err != nil || !proto.Equal(got, want) {
			t.Fatalf("fact %d: Unmarshal %v, %v; want %v", i, got, err, want)
		}
	}
}

// TestAppendFileIsProtoMarshal: the hand encoding of seeded file facts is
// proto.Marshal's byte for byte, and the hand encoder leaves what it does
// not know whole (a diff, another kind, unknown fields) to proto.
func TestAppendFileIsProtoMarshal(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 6))
	long := 0
	for i := range 3000 {
		f := factwiretest.RandomFile(rng)
		plain := !notPlain(f, i)
		want, err := proto.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		prefix := []byte{0xde, 0xad}
		got, ok := AppendFile(prefix, f)
		if ok != plain {
			t.Fatalf("fact %d: hand encoder took it: %v, want %v (%v)", i, ok, plain, f)
		}
		if !ok {
			if !bytes.Equal(got, prefix) {
				t.Fatalf("fact %d: refused, yet appended %x", i, got[len(prefix):])
			}
		} else if !bytes.Equal(got[:len(prefix)], prefix) || !bytes.Equal(got[len(prefix):], want) {
			t.Fatalf("fact %d %v:\nhand  %x\nproto %x", i, f, got, want)
		}
		if ok && len(want) > 140 {
			long++
		}
		if m, err := Marshal(f); err != nil || !bytes.Equal(m, want) {
			t.Fatalf("fact %d: Marshal %x, %v; want %x", i, m, err, want)
		}
	}
	// Attributes of 128 bytes and more need a longer length.
	if long == 0 {
		t.Fatal("no fact had attributes long enough to test the length's growth")
	}
}

// FuzzDecodeFile: whatever bytes the hand decoder accepts, proto accepts
// too and decodes to an equal fact, which the hand encoder encodes back
// as proto does.
func FuzzDecodeFile(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		b, err := proto.Marshal(factwiretest.RandomFile(rng))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := DecodeFile(b)
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
		enc, ok := AppendFile(nil, got)
		if !ok {
			t.Fatalf("hand encoder refused what the hand decoder made: %v", got)
		}
		if pm, _ := proto.Marshal(got); !bytes.Equal(enc, pm) {
			t.Fatalf("hand encoding %x, proto %x", enc, pm)
		}
	})
}
