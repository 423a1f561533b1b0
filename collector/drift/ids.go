package drift

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

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

// cause is what moved a host's facts, as it enters ids: the delta with
// sequence number n, the host's resync number n (store.Host.Resyncs), or
// its health transition number n (store.Host.HealthChanges). Deltas,
// resyncs and health transitions are numbered independently, so their ids
// hash under different tags. Each cause is used once per host, and an id derives from
// nothing else, so a retried transaction gives the same ids and a new
// cause new ones. Accepting uses delta 0, which no delta has.
type cause struct {
	resync bool
	health bool
	// promote names the group whose promotion number n (its
	// GroupBaseline.Generation) re-evaluated the host.
	promote string
	n       uint64
}

// tag is the first field of an id's hash: the kind of id, and whether a
// resync caused it. Being length-prefixed, it keeps the two numberings
// apart.
func (c cause) tag(kind string) []byte {
	switch {
	case c.resync:
		return []byte(kind + "/resync")
	case c.health:
		return []byte(kind + "/health")
	case c.promote != "":
		return []byte(kind + "/promote/" + c.promote)
	}
	return []byte(kind)
}

func (c cause) String() string {
	switch {
	case c.resync:
		return fmt.Sprintf("resync %d", c.n)
	case c.health:
		return fmt.Sprintf("health change %d", c.n)
	case c.promote != "":
		return fmt.Sprintf("promotion %d of group %q", c.n, c.promote)
	}
	return fmt.Sprintf("seq %d", c.n)
}

// itemID names a divergence of fact k on host, opened by c. A later
// divergence of the same fact opens by a later cause, so it gets a new id.
func itemID(host string, k fact.Key, c cause) string {
	h := &idHash{}
	return h.bytes(c.tag("item")).bytes([]byte(host)).uint(uint64(k.Kind)).bytes([]byte(k.ID)).uint(c.n).sum()
}

// eventID names the transition typ of item caused by c, leaving the
// item's current value at digest. The digest tells apart successive
// updates of one item by one cause.
func eventID(item string, typ plumbv1.DriftEventType, c cause, digest []byte) string {
	h := &idHash{}
	return h.bytes(c.tag("event")).bytes([]byte(item)).uint(uint64(typ)).uint(c.n).bytes(digest).sum()
}
