package ingest

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec wrapped here
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/limits"
)

// A decoded protobuf message costs far more memory than its wire bytes
// when it holds many small elements: a 4 MB message of a million empty
// deltas would decode into a million Go structs. The server codec below
// counts a SyncRequest's elements on the wire, without allocating, and
// refuses a message over the limits before unmarshaling it.

// gRPC turns a codec error into codes.Internal and ends the stream itself,
// before the handler sees it. So a refused message is not an error: the
// codec decodes it as an empty SyncRequest that carries the refusal in an
// unknown field (refusalField), and Sync ends the stream
// ResourceExhausted with it (refusalOf). A peer that sends that field
// itself only gets itself refused.
const refusalField protowire.Number = protowire.MaxValidNumber

type wireLimitError struct {
	limit string
	msg   string
}

func (e *wireLimitError) Error() string {
	return fmt.Sprintf("limit %s: %s", e.limit, e.msg)
}

// wireCaps are the counts scanSync enforces.
type wireCaps struct {
	deltas, facts, conditions, labels int
}

func capsOf(l limits.Limits) wireCaps {
	return wireCaps{deltas: l.MaxDeltasPerBatch, facts: l.MaxFactsPerSnapshot,
		conditions: l.MaxCoverageConditions, labels: limits.MaxLabels}
}

// ServerCodec returns the collector's gRPC codec: the standard protobuf
// codec, except that a SyncRequest is counted on the wire first (see
// scanSync). Install it with grpc.ForceServerCodecV2.
func ServerCodec(l limits.Limits, m *limits.Metrics) encoding.CodecV2 {
	return &codec{base: encoding.GetCodecV2("proto"), caps: capsOf(l), metrics: m}
}

type codec struct {
	base    encoding.CodecV2
	caps    wireCaps
	metrics *limits.Metrics
}

func (c *codec) Name() string { return c.base.Name() }

func (c *codec) Marshal(v any) (mem.BufferSlice, error) { return c.base.Marshal(v) }

func (c *codec) Unmarshal(data mem.BufferSlice, v any) error {
	req, ok := v.(*plumbv1.SyncRequest)
	if !ok {
		return c.base.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	b := buf.ReadOnlyData()
	if err := scanSync(b, c.caps); err != nil {
		var le *wireLimitError
		if errors.As(err, &le) {
			c.metrics.Reject(le.limit)
		}
		req.Reset()
		var u []byte
		u = protowire.AppendTag(u, refusalField, protowire.BytesType)
		u = protowire.AppendString(u, err.Error())
		req.ProtoReflect().SetUnknown(u)
		return nil
	}
	if d, ok := decodeDeltas(b); ok {
		req.Reset()
		req.Msg = d.Msg
		return nil
	}
	return proto.Unmarshal(b, req)
}

// SyncRequest, Hello, DeltaBatch, BucketSnapshot and Coverage field
// numbers, from agent.proto.
const (
	fieldHello    = 1
	fieldDeltas   = 2
	fieldBucket   = 3
	fieldCoverage = 4

	fieldHelloLabels   = 5
	fieldBatchDeltas   = 1
	fieldSnapshotFacts = 2
	fieldCoverageConds = 1
)

// scanSync counts a SyncRequest's repeated elements without decoding
// them. Protobuf merges repeated occurrences of a message field, so the
// counts add up over every occurrence. A malformed message is left to
// proto.Unmarshal to refuse.
func scanSync(b []byte, caps wireCaps) error {
	var deltas, facts, conds, labels int
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return nil
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil
		}
		b = b[n:]
		switch num {
		case fieldHello:
			labels += countField(v, fieldHelloLabels)
		case fieldDeltas:
			deltas += countField(v, fieldBatchDeltas)
		case fieldBucket:
			facts += countField(v, fieldSnapshotFacts)
		case fieldCoverage:
			conds += countField(v, fieldCoverageConds)
		}
	}
	switch {
	case deltas > caps.deltas:
		return &wireLimitError{limits.DeltasPerBatch, fmt.Sprintf("%d deltas in one message, at most %d", deltas, caps.deltas)}
	case facts > caps.facts:
		return &wireLimitError{limits.FactsPerSnapshot, fmt.Sprintf("%d facts in one bucket snapshot message, at most %d", facts, caps.facts)}
	case conds > caps.conditions:
		return &wireLimitError{limits.Coverage, fmt.Sprintf("%d coverage conditions, at most %d", conds, caps.conditions)}
	case labels > caps.labels:
		return &wireLimitError{limits.Labels, fmt.Sprintf("%d labels, at most %d", labels, caps.labels)}
	}
	return nil
}

// countField counts the occurrences of field num in message b.
func countField(b []byte, num protowire.Number) int {
	count := 0
	for len(b) > 0 {
		got, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return count
		}
		b = b[n:]
		if n = protowire.ConsumeFieldValue(got, typ, b); n < 0 {
			return count
		}
		b = b[n:]
		if got == num {
			count++
		}
	}
	return count
}

// refusalOf returns the ResourceExhausted status of a message the codec
// refused, nil for any other message.
func refusalOf(m *plumbv1.SyncRequest) error {
	if m.GetMsg() != nil {
		return nil
	}
	u := m.ProtoReflect().GetUnknown()
	for len(u) > 0 {
		num, typ, n := protowire.ConsumeTag(u)
		if n < 0 {
			return nil
		}
		u = u[n:]
		if num == refusalField && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(u)
			if n < 0 {
				return nil
			}
			return status.Error(codes.ResourceExhausted, string(v))
		}
		if n = protowire.ConsumeFieldValue(num, typ, u); n < 0 {
			return nil
		}
		u = u[n:]
	}
	return nil
}
