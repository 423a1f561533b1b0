package fact

import (
	"crypto/sha256"
	"math/rand/v2"
	"strings"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// The bucket of a key is the first byte of SHA-256(kind ‖ key) mod
// BucketCount, as agents of every version compute it: Key.Bucket and
// BucketOf on the stored form must agree with that, for short keys and
// for keys longer than Bucket's stack buffer.
func TestBucketIsTheFirstByteOfTheKeysHash(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for i := range 2000 {
		n := rng.IntN(300)
		if i%100 == 0 {
			n = 4096
		}
		var sb strings.Builder
		for range n {
			sb.WriteByte(byte(rng.UintN(256)))
		}
		k := Key{Kind: plumbv1.FactKind(rng.IntN(8)), ID: sb.String()}
		h := sha256.New()
		h.Write([]byte{byte(k.Kind)})
		h.Write([]byte(k.ID))
		want := uint32(h.Sum(nil)[0]) % BucketCount
		if got := k.Bucket(); got != want {
			t.Fatalf("key of %d bytes: Bucket %d, want %d", len(k.ID), got, want)
		}
		if got := BucketOf(k.Encode()); got != want {
			t.Fatalf("key of %d bytes: BucketOf %d, want %d", len(k.ID), got, want)
		}
	}
}

func TestEmptyBucket(t *testing.T) {
	var s SetDigest
	k := Key{Kind: plumbv1.FactKind_FACT_KIND_FILE, ID: "/etc/hosts"}
	b := k.Bucket()
	if !s.Empty(b) {
		t.Fatal("a new digest's bucket is not empty")
	}
	s.Add(k, []byte("digest"))
	if s.Empty(b) {
		t.Fatal("a bucket holding a fact is empty")
	}
	s.Remove(k, []byte("digest"))
	if !s.Empty(b) {
		t.Fatal("a bucket whose only fact was removed is not empty")
	}
	if s.Empty(BucketCount) {
		t.Fatal("an out-of-range bucket is reported empty")
	}
}
