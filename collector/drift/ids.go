package drift

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// idHash builds ids from length-prefixed fields, so no two different field
// lists hash alike.
type idHash struct{ b []byte }

func (h *idHash) bytes(b []byte) *idHash {
	h.b = binary.AppendUvarint(h.b, uint64(len(b)))
	h.b = append(h.b, b...)
	return h
}

func (h *idHash) uint(v uint64) *idHash {
	h.b = binary.AppendUvarint(h.b, v)
	return h
}

// sum returns the first 16 bytes of the SHA-256, in hex.
func (h *idHash) sum() string {
	s := sha256.Sum256(h.b)
	return hex.EncodeToString(s[:16])
}

// itemID names a divergence of fact k on host, opened by the delta seq.
// A later divergence of the same fact opens at a later seq, so it gets a
// new id.
func itemID(host string, k fact.Key, seq uint64) string {
	h := &idHash{}
	return h.bytes([]byte("item")).bytes([]byte(host)).uint(uint64(k.Kind)).bytes([]byte(k.ID)).uint(seq).sum()
}

// eventID names the transition typ of item caused by seq, leaving the
// item's current value at digest. The digest tells apart successive
// updates of one item caused by one resync sequence.
func eventID(item string, typ plumbv1.DriftEventType, seq uint64, digest []byte) string {
	h := &idHash{}
	return h.bytes([]byte("event")).bytes([]byte(item)).uint(uint64(typ)).uint(seq).bytes(digest).sum()
}
