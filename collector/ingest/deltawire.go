package ingest

import (
	"bytes"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/factwire"
)

// Delta field numbers, from agent.proto.
const (
	deltaSeqField       = 1
	deltaOpField        = 2
	deltaFactField      = 3
	deltaSetDigestField = 4
	deltaFactCountField = 5
	deltaObservedField  = 6
	deltaPkgChangeField = 7
)

// decodeDeltas decodes a SyncRequest that carries one DeltaBatch by hand,
// file facts with factwire: a batch of deltas is nearly every message an
// agent sends, and the reflective decoder was a tenth of a collector's
// CPU during a first sync. Given anything else (another message, a field
// repeated that proto would merge, an unknown field, a wire type it does
// not expect) it returns false, and the caller uses proto.Unmarshal.
// Nothing it returns aliases b. TestDecodeDeltasMatchesProto and
// FuzzDecodeDeltas hold it to proto.Unmarshal.
func decodeDeltas(b []byte) (*plumbv1.SyncRequest, bool) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num != fieldDeltas || typ != protowire.BytesType {
		return nil, false
	}
	v, m := protowire.ConsumeBytes(b[n:])
	if m < 0 || n+m != len(b) {
		return nil, false // malformed, or more fields (a oneof repeated)
	}
	batch := &plumbv1.DeltaBatch{}
	for b = v; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num != fieldBatchDeltas || typ != protowire.BytesType {
			return nil, false
		}
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 {
			return nil, false
		}
		b = b[n+m:]
		d, ok := decodeDelta(v)
		if !ok {
			return nil, false
		}
		batch.Deltas = append(batch.Deltas, d)
	}
	return &plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Deltas{Deltas: batch}}, true
}

func decodeDelta(b []byte) (*plumbv1.Delta, bool) {
	d := &plumbv1.Delta{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, false
			}
			b = b[n:]
			switch num {
			case deltaSeqField:
				d.Seq = x
			case deltaOpField:
				d.Op = plumbv1.DeltaOp(int32(x))
			case deltaFactCountField:
				d.FactCount = x
			case deltaObservedField:
				d.ObservedUnixNano = int64(x)
			default:
				return nil, false
			}
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, false
			}
			b = b[n:]
			switch num {
			case deltaFactField:
				if d.Fact != nil {
					return nil, false // proto merges a repeated message
				}
				f, ok := factwire.DecodeFile(v)
				if !ok {
					// A delete's kind and key, another kind of fact:
					// proto decodes this one fact.
					f = &plumbv1.Fact{}
					if proto.Unmarshal(v, f) != nil {
						return nil, false
					}
				}
				d.Fact = f
			case deltaSetDigestField:
				d.SetDigest = bytes.Clone(v)
			case deltaPkgChangeField:
				if d.PackageChange != nil {
					return nil, false
				}
				pc := &plumbv1.PackageChange{}
				if proto.Unmarshal(v, pc) != nil {
					return nil, false
				}
				d.PackageChange = pc
			default:
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return d, true
}
