package stream

import (
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec wrapped here
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/plumb-dev/plumb/agent/state"
)

// Field numbers of plumb.v1.SyncRequest.deltas and DeltaBatch.deltas,
// which encodeDeltas writes (TestEncodeDeltasIsASyncRequest holds them to
// the generated code).
const (
	syncDeltasField  protowire.Number = 2
	batchDeltasField protowire.Number = 1
)

// encoded is a SyncRequest already in wire form, which sendCodec sends as
// is.
type encoded []byte

// encodeDeltas returns the SyncRequest carrying deltas, from the encodings
// the spool holds: spooled deltas are sent without being decoded and
// encoded again.
func encodeDeltas(deltas []state.WireDelta) encoded {
	n := 0
	for _, d := range deltas {
		n += protowire.SizeTag(batchDeltasField) + protowire.SizeBytes(len(d.Bytes))
	}
	b := make([]byte, 0, protowire.SizeTag(syncDeltasField)+protowire.SizeBytes(n))
	b = protowire.AppendTag(b, syncDeltasField, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	for _, d := range deltas {
		b = protowire.AppendTag(b, batchDeltasField, protowire.BytesType)
		b = protowire.AppendBytes(b, d.Bytes)
	}
	return b
}

// wireSize is the size of a delta within a DeltaBatch.
func wireSize(d state.WireDelta) int {
	return protowire.SizeTag(batchDeltasField) + protowire.SizeBytes(len(d.Bytes))
}

// sendCodec is gRPC's protobuf codec, except that an encoded message is
// sent as it is. The content subtype stays "proto".
type sendCodec struct{ base encoding.CodecV2 }

func newSendCodec() sendCodec { return sendCodec{base: encoding.GetCodecV2("proto")} }

func (c sendCodec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.(encoded); ok {
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.base.Marshal(v)
}

func (c sendCodec) Unmarshal(data mem.BufferSlice, v any) error { return c.base.Unmarshal(data, v) }

func (c sendCodec) Name() string { return c.base.Name() }
