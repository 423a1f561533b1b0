package ingest

import (
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/factwire/factwiretest"
)

// randomDelta returns a seeded delta of any op: file upserts mostly,
// deletes (kind and key only), checkpoints, and package upserts with a
// package change.
func randomDelta(rng *rand.Rand) *plumbv1.Delta {
	d := &plumbv1.Delta{Seq: rng.Uint64(), ObservedUnixNano: rng.Int64() - rng.Int64()}
	switch rng.IntN(8) {
	case 0:
		d.Op = plumbv1.DeltaOp_DELTA_OP_DELETE
		d.Fact = &plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte("/etc/gone")}
	case 1:
		d.Op = plumbv1.DeltaOp_DELTA_OP_CHECKPOINT
		d.SetDigest, d.FactCount = make([]byte, 32), rng.Uint64()
		d.SetDigest[rng.IntN(32)] = byte(rng.Uint32())
	case 2:
		d.Op = plumbv1.DeltaOp_DELTA_OP_UPSERT
		d.Fact = &plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_PACKAGE, Key: []byte("dpkg:bash:amd64"),
			Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: "5.2", Arch: "amd64", Manager: "dpkg"}}}
		d.PackageChange = &plumbv1.PackageChange{Package: "bash", OldVersion: "5.1", NewVersion: "5.2", Manager: "dpkg", Files: rng.Uint32()}
	default:
		d.Op = plumbv1.DeltaOp_DELTA_OP_UPSERT
		d.Fact = factwiretest.RandomFile(rng)
	}
	return d
}

// TestDecodeDeltasMatchesProto decodes seeded batches, and messages the
// hand decoder must leave to proto (a hello, a delta with an unknown
// field, two batches that proto merges), both ways: the results must be
// equal, and the hand decoder must take every plain batch.
func TestDecodeDeltasMatchesProto(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 9))
	for i := range 1000 {
		batch := &plumbv1.DeltaBatch{}
		for range rng.IntN(20) {
			batch.Deltas = append(batch.Deltas, randomDelta(rng))
		}
		req := &plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Deltas{Deltas: batch}}
		b, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		plain := true
		switch i % 10 {
		case 7:
			b, err = proto.Marshal(hello("h"))
			if err != nil {
				t.Fatal(err)
			}
			plain = false
		case 8:
			if len(batch.Deltas) > 0 {
				batch.Deltas[0].ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 40, protowire.VarintType), 1))
				if b, err = proto.Marshal(req); err != nil {
					t.Fatal(err)
				}
				plain = false
			}
		case 9:
			b = append(b, b...) // the batch twice: proto merges them
			plain = false
		}
		want := &plumbv1.SyncRequest{}
		if err := proto.Unmarshal(b, want); err != nil {
			t.Fatal(err)
		}
		got, ok := decodeDeltas(b)
		if ok != plain {
			t.Fatalf("message %d: hand decoder took it: %v, want %v", i, ok, plain)
		}
		if ok && !proto.Equal(got, want) {
			t.Fatalf("message %d:\nhand  %v\nproto %v", i, got, want)
		}
		// Nothing aliases the wire bytes, which gRPC reuses.
		if ok {
			clear(b)
			if !proto.Equal(got, want) {
				t.Fatalf("message %d: the decoded message changed with the wire bytes", i)
			}
		}
	}
}

// FuzzDecodeDeltas: whatever the hand decoder accepts, proto accepts too
// and decodes to an equal message.
func FuzzDecodeDeltas(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		batch := &plumbv1.DeltaBatch{}
		for range 1 + rng.IntN(4) {
			batch.Deltas = append(batch.Deltas, randomDelta(rng))
		}
		b, err := proto.Marshal(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Deltas{Deltas: batch}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decodeDeltas(b)
		if !ok {
			return
		}
		want := &plumbv1.SyncRequest{}
		if err := proto.Unmarshal(b, want); err != nil {
			t.Fatalf("hand decoder took what proto refuses (%v): %x", err, b)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("hand %v\nproto %v", got, want)
		}
	})
}

// BenchmarkDecodeDeltas compares the hand decoder with proto.Unmarshal on
// a batch of 256 file upserts.
func BenchmarkDecodeDeltas(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	batch := &plumbv1.DeltaBatch{}
	for range 256 {
		f := factwiretest.RandomFile(rng)
		batch.Deltas = append(batch.Deltas, &plumbv1.Delta{Seq: rng.Uint64(), Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: f})
	}
	wire, err := proto.Marshal(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Deltas{Deltas: batch}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("hand", func(b *testing.B) {
		for b.Loop() {
			if _, ok := decodeDeltas(wire); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("proto", func(b *testing.B) {
		for b.Loop() {
			if err := proto.Unmarshal(wire, &plumbv1.SyncRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
