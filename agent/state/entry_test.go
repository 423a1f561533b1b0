package state

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/factwire/factwiretest"
)

// TestAppendDeltaIsProtoMarshal: a delta encoded around its fact's
// encoding is, byte for byte, what proto.Marshal makes of it.
func TestAppendDeltaIsProtoMarshal(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 17))
	for i := range 1000 {
		d := &plumbv1.Delta{Op: plumbv1.DeltaOp(rng.IntN(4)), Fact: factwiretest.RandomFile(rng)}
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
