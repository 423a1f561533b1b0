package state

import (
	"encoding/binary"
	"errors"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// entry is one spooled delta and the digest its fact had before it (nil
// when the fact was new). Encoded as uvarint(len(base)) ‖ base ‖ delta.
type entry struct {
	base  []byte
	delta *plumbv1.Delta
}

func (e entry) encode() ([]byte, error) {
	db, err := proto.Marshal(e.delta)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, binary.MaxVarintLen64+len(e.base)+len(db))
	b = binary.AppendUvarint(b, uint64(len(e.base)))
	b = append(b, e.base...)
	return append(b, db...), nil
}

func decodeEntry(b []byte) (entry, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return entry{}, errors.New("bad spool entry header")
	}
	e := entry{delta: &plumbv1.Delta{}}
	if n > 0 {
		e.base = append([]byte(nil), b[w:w+int(n)]...)
	}
	if err := proto.Unmarshal(b[w+int(n):], e.delta); err != nil {
		return entry{}, err
	}
	return e, nil
}

// key returns the fact the entry changes; ok is false for a checkpoint.
func (e entry) key() (k fact.Key, ok bool) {
	if e.delta.GetOp() == plumbv1.DeltaOp_DELTA_OP_CHECKPOINT {
		return fact.Key{}, false
	}
	return fact.KeyOf(e.delta.GetFact()), true
}

// value is the fact's digest after the delta; nil when deleted.
func (e entry) value() []byte {
	if e.delta.GetOp() == plumbv1.DeltaOp_DELTA_OP_UPSERT {
		return e.delta.GetFact().GetDigest()
	}
	return nil
}

// apply moves sd from the entry's base to its value.
func (e entry) apply(sd *fact.SetDigest) {
	if k, ok := e.key(); ok {
		sd.Replace(k, e.base, e.value())
	}
}

// undo moves sd from the entry's value back to its base.
func (e entry) undo(sd *fact.SetDigest) {
	if k, ok := e.key(); ok {
		sd.Replace(k, e.value(), e.base)
	}
}

func decodeFact(v []byte) (*plumbv1.Fact, error) {
	f := &plumbv1.Fact{}
	if err := proto.Unmarshal(v, f); err != nil {
		return nil, err
	}
	return f, nil
}

// factDigestField is plumb.v1.Fact's digest field number.
const factDigestField = 3

// storedDigest returns the digest of a stored fact without decoding the
// rest of it, for the set digest an open rebuilds over every fact. It
// checks the encoding's framing, as decoding would; the result aliases v.
func storedDigest(v []byte) ([]byte, error) {
	var digest []byte
	for len(v) > 0 {
		num, typ, n := protowire.ConsumeTag(v)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		v = v[n:]
		if num == factDigestField && typ == protowire.BytesType {
			b, n := protowire.ConsumeBytes(v)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			digest, v = b, v[n:] // the last one wins, as in proto
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, v)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		v = v[n:]
	}
	return digest, nil
}
