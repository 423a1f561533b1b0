package state

import (
	"encoding/binary"
	"errors"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factwire"
)

// entry is one spooled delta and the digest its fact had before it (nil
// when the fact was new). Encoded as uvarint(len(base)) ‖ base ‖ delta.
type entry struct {
	base  []byte
	delta *plumbv1.Delta
	// factBytes, if set, is delta.Fact already encoded (the state has
	// just encoded it to store it), which encode then does not encode
	// again.
	factBytes []byte
}

func (e entry) encode() ([]byte, error) {
	if e.factBytes != nil {
		// One allocation: the delta's fields around the fact take at most
		// deltaOverhead bytes.
		b := make([]byte, 0, binary.MaxVarintLen64+len(e.base)+len(e.factBytes)+deltaOverhead)
		b = binary.AppendUvarint(b, uint64(len(e.base)))
		b = append(b, e.base...)
		return appendDelta(b, e.delta, e.factBytes)
	}
	db, err := proto.Marshal(e.delta)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, binary.MaxVarintLen64+len(e.base)+len(db))
	b = binary.AppendUvarint(b, uint64(len(e.base)))
	b = append(b, e.base...)
	return append(b, db...), nil
}

// deltaOverhead bounds what appendDelta adds to a fact without a package
// change: tags and varints of seq, op, the fact's length, fact count and
// observation time, and a set digest of 32 bytes.
const deltaOverhead = 5*(1+binary.MaxVarintLen64) + 2 + 32

// entryDelta returns the encoded delta of a spool entry (aliasing b).
func entryDelta(b []byte) ([]byte, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return nil, errors.New("bad spool entry header")
	}
	return b[w+int(n):], nil
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

// decodeFact decodes a stored fact: an unchanged rescan looks up every
// file, and the reflective decoder was a tenth of its CPU.
func decodeFact(v []byte) (*plumbv1.Fact, error) { return factwire.Unmarshal(v) }

// factDigestField is plumb.v1.Fact's digest field number.
const factDigestField = 3

// storedDigest returns the digest of a stored fact without decoding the
// rest of it, for the set digest an open rebuilds over every fact. It
// checks the encoding's framing, as decoding would; the result aliases v.
func storedDigest(v []byte) ([]byte, error) {
	var digest []byte
	err := walkFields(v, func(num protowire.Number, typ protowire.Type, b []byte, _ uint64) error {
		if num == factDigestField && typ == protowire.BytesType {
			digest = b // the last one wins, as in proto
		}
		return nil
	})
	return digest, err
}

// entryDigests is what an acknowledgement or an open needs of a spool
// entry: which fact it changes and the digests before and after, read
// without decoding the delta's fact. The slices alias the entry.
type entryDigests struct {
	base   []byte
	op     plumbv1.DeltaOp
	kind   plumbv1.FactKind
	key    []byte
	digest []byte // the fact's digest in the delta
}

// Field numbers of plumb.v1.Delta and plumb.v1.Fact read here.
const (
	deltaOpField   = 2
	deltaFactField = 3
	factKindField  = 1
	factKeyField   = 2
)

func decodeEntryDigests(b []byte) (entryDigests, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return entryDigests{}, errors.New("bad spool entry header")
	}
	e := entryDigests{base: b[w : w+int(n)]}
	if n == 0 {
		e.base = nil
	}
	err := walkFields(b[w+int(n):], func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == deltaOpField && typ == protowire.VarintType:
			e.op = plumbv1.DeltaOp(x)
		case num == deltaFactField && typ == protowire.BytesType:
			return walkFields(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
				switch {
				case num == factKindField && typ == protowire.VarintType:
					e.kind = plumbv1.FactKind(x)
				case num == factKeyField && typ == protowire.BytesType:
					e.key = v
				case num == factDigestField && typ == protowire.BytesType:
					e.digest = v
				}
				return nil
			})
		}
		return nil
	})
	return e, err
}

// walkFields calls fn for each field of the encoded message b, with its
// bytes (length-delimited fields) or its value (varints), checking the
// framing as decoding does.
func walkFields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

// factKey returns the fact the entry changes; ok is false for a
// checkpoint.
func (e entryDigests) factKey() (k fact.Key, ok bool) {
	if e.op == plumbv1.DeltaOp_DELTA_OP_CHECKPOINT {
		return fact.Key{}, false
	}
	return fact.Key{Kind: e.kind, ID: string(e.key)}, true
}

// value is the fact's digest after the delta; nil when deleted.
func (e entryDigests) value() []byte {
	if e.op == plumbv1.DeltaOp_DELTA_OP_UPSERT {
		return e.digest
	}
	return nil
}

// apply moves sd from the entry's base to its value.
func (e entryDigests) apply(sd *fact.SetDigest) {
	if k, ok := e.factKey(); ok {
		sd.Replace(k, e.base, e.value())
	}
}

// undo moves sd from the entry's value back to its base.
func (e entryDigests) undo(sd *fact.SetDigest) {
	if k, ok := e.factKey(); ok {
		sd.Replace(k, e.value(), e.base)
	}
}

// Field numbers of plumb.v1.Delta that appendDelta writes (besides
// deltaOpField and deltaFactField).
const (
	deltaSeqField       = 1
	deltaSetDigestField = 4
	deltaFactCountField = 5
	deltaObservedField  = 6
	deltaPkgChangeField = 7
)

// appendDelta appends the encoding of d, whose fact is given encoded, as
// proto.Marshal would make it (fields in number order, zero values left
// out): TestAppendDeltaIsProtoMarshal.
func appendDelta(b []byte, d *plumbv1.Delta, fact []byte) ([]byte, error) {
	if d.GetSeq() != 0 {
		b = protowire.AppendTag(b, deltaSeqField, protowire.VarintType)
		b = protowire.AppendVarint(b, d.GetSeq())
	}
	if d.GetOp() != 0 {
		b = protowire.AppendTag(b, deltaOpField, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(d.GetOp())))
	}
	b = protowire.AppendTag(b, deltaFactField, protowire.BytesType)
	b = protowire.AppendBytes(b, fact)
	if len(d.GetSetDigest()) > 0 {
		b = protowire.AppendTag(b, deltaSetDigestField, protowire.BytesType)
		b = protowire.AppendBytes(b, d.GetSetDigest())
	}
	if d.GetFactCount() != 0 {
		b = protowire.AppendTag(b, deltaFactCountField, protowire.VarintType)
		b = protowire.AppendVarint(b, d.GetFactCount())
	}
	if d.GetObservedUnixNano() != 0 {
		b = protowire.AppendTag(b, deltaObservedField, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d.GetObservedUnixNano()))
	}
	if pc := d.GetPackageChange(); pc != nil {
		m, err := proto.Marshal(pc)
		if err != nil {
			return nil, err
		}
		b = protowire.AppendTag(b, deltaPkgChangeField, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	return b, nil
}
