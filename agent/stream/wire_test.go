package stream

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/state"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// TestEncodeDeltasIsASyncRequest: the hand-built message decodes, with
// the generated code, to the SyncRequest of the same deltas, byte for
// byte what proto.Marshal makes of it; and wireByBytes splits where
// byBytes does.
func TestEncodeDeltasIsASyncRequest(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	for round := range 50 {
		var deltas []*plumbv1.Delta
		var wire []state.WireDelta
		for i := range rng.IntN(40) {
			d := &plumbv1.Delta{Seq: uint64(i + 1), Op: plumbv1.DeltaOp_DELTA_OP_UPSERT,
				Fact: fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_SYSCTL,
					Key: fmt.Appendf(nil, "k%d", rng.IntN(1000)), Attrs: &plumbv1.Fact_Value{
						Value: &plumbv1.ValueAttrs{Value: string(bytes.Repeat([]byte("v"), rng.IntN(300)))}}})}
			if rng.IntN(5) == 0 {
				d = &plumbv1.Delta{Seq: uint64(i + 1), Op: plumbv1.DeltaOp_DELTA_OP_CHECKPOINT, SetDigest: make([]byte, 32)}
			}
			b, err := proto.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			deltas = append(deltas, d)
			wire = append(wire, state.WireDelta{Seq: d.GetSeq(), Bytes: b})
		}
		want := &plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Deltas{Deltas: &plumbv1.DeltaBatch{Deltas: deltas}}}
		got := &plumbv1.SyncRequest{}
		enc := encodeDeltas(wire)
		if err := proto.Unmarshal(enc, got); err != nil || !proto.Equal(got, want) {
			t.Fatalf("round %d: decoded %v (err %v), want %v", round, got, err, want)
		}
		if m, _ := (proto.MarshalOptions{Deterministic: true}).Marshal(want); !bytes.Equal(m, enc) {
			t.Fatalf("round %d: %x, proto.Marshal gives %x", round, []byte(enc), m)
		}
		limit := rng.IntN(3000)
		if a, b := wireByBytes(wire, limit), byBytes(deltas, limit); a != b {
			t.Fatalf("round %d: wireByBytes %d, byBytes %d (limit %d)", round, a, b, limit)
		}
	}
}
