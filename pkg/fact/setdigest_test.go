package fact

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"
)

// element and Bucket hash from a stack buffer; they must equal the
// streamed definition for short and long keys alike.
func TestElementAndBucketMatchTheirDefinition(t *testing.T) {
	for _, n := range []int{0, 1, 40, 200, 222, 223, 255, 256, 300, 5000} {
		k := Key{Kind: 3, ID: strings.Repeat("x", n)}
		d := bytes.Repeat([]byte{0xab}, 32)
		h := sha256.New()
		h.Write([]byte{byte(k.Kind)})
		h.Write(binary.AppendUvarint(nil, uint64(len(k.ID))))
		h.Write([]byte(k.ID))
		h.Write(d)
		if got, want := element(k, d), fromBytes(h.Sum(nil)); got != want {
			t.Errorf("element, key of %d bytes: %x, want %x", n, got, want)
		}
		sum := sha256.Sum256(append([]byte{byte(k.Kind)}, k.ID...))
		if got, want := k.Bucket(), uint32(sum[0])%BucketCount; got != want {
			t.Errorf("Bucket, key of %d bytes: %d, want %d", n, got, want)
		}
	}
}
