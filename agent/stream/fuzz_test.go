package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/endpoint"
	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/state"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// scriptConn is a grpc.ClientConnInterface whose one stream plays a
// script of collector messages and then ends; what the agent sends is
// dropped. It puts the client's real session code (handshake, acks,
// resyncs) in front of arbitrary collector messages without a network.
type scriptConn struct{ script []*plumbv1.SyncResponse }

func (c *scriptConn) Invoke(context.Context, string, any, any, ...grpc.CallOption) error {
	return errors.New("not implemented")
}

func (c *scriptConn) NewStream(ctx context.Context, _ *grpc.StreamDesc, _ string, _ ...grpc.CallOption) (grpc.ClientStream, error) {
	return &scriptStream{ctx: ctx, script: c.script}, nil
}

// noCollectors is an empty list, for tests that drive sessions directly.
type noCollectors struct{}

func (noCollectors) Addresses() []string { return nil }
func (noCollectors) Endpoints(context.Context) ([]endpoint.Endpoint, error) {
	return nil, errors.New("no collectors")
}
func (noCollectors) Dial(endpoint.Endpoint, ...grpc.DialOption) (*grpc.ClientConn, error) {
	return nil, errors.New("no collectors")
}

type scriptStream struct {
	ctx    context.Context
	mu     sync.Mutex
	script []*plumbv1.SyncResponse
}

func (s *scriptStream) Header() (metadata.MD, error) { return nil, nil }
func (s *scriptStream) Trailer() metadata.MD         { return nil }
func (s *scriptStream) CloseSend() error             { return nil }
func (s *scriptStream) Context() context.Context     { return s.ctx }
func (s *scriptStream) SendMsg(any) error            { return s.ctx.Err() }

func (s *scriptStream) RecvMsg(m any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.script) == 0 {
		return io.EOF
	}
	next := s.script[0]
	s.script = s.script[1:]
	proto.Merge(m.(proto.Message), next)
	return nil
}

// collectorScript splits fuzz bytes into length-prefixed SyncResponses;
// pieces that do not decode are skipped.
func collectorScript(data []byte) []*plumbv1.SyncResponse {
	var out []*plumbv1.SyncResponse
	for len(data) > 0 && len(out) < 16 {
		v, n := protowire.ConsumeBytes(data)
		if n < 0 {
			break
		}
		data = data[n:]
		m := &plumbv1.SyncResponse{}
		if proto.Unmarshal(v, m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func encodeScript(ms ...*plumbv1.SyncResponse) []byte {
	var out []byte
	for _, m := range ms {
		b, err := proto.Marshal(m)
		if err != nil {
			panic(err)
		}
		out = protowire.AppendBytes(out, b)
	}
	return out
}

// FuzzCollectorMessages plays arbitrary collector messages (welcome, acks,
// resync requests, anything) against the agent's real session code and a
// real state database. The agent never panics, its sequence counter never
// goes back, wraps or jumps beyond the window, and it never counts as
// acknowledged a number it did not assign.
func FuzzCollectorMessages(f *testing.F) {
	var empty fact.SetDigest
	f.Add(encodeScript(welcome(0, empty.Buckets()),
		&plumbv1.SyncResponse{Msg: &plumbv1.SyncResponse_Ack{Ack: &plumbv1.Ack{Seq: 2}}}))
	f.Add(encodeScript(welcome(math.MaxUint64, nil)))
	f.Add(encodeScript(welcome(0, nil), &plumbv1.SyncResponse{Msg: &plumbv1.SyncResponse_Resync{Resync: &plumbv1.ResyncRequest{Buckets: []uint32{4096, 1}}}}))
	f.Add(encodeScript(welcome(1, empty.Buckets()), &plumbv1.SyncResponse{Msg: &plumbv1.SyncResponse_Resync{Resync: &plumbv1.ResyncRequest{Buckets: []uint32{3, 3, 255}}}},
		&plumbv1.SyncResponse{Msg: &plumbv1.SyncResponse_Ack{Ack: &plumbv1.Ack{Seq: math.MaxUint64, SetDigest: []byte{1}}}}))
	f.Add(encodeScript(&plumbv1.SyncResponse{Msg: &plumbv1.SyncResponse_Ack{Ack: &plumbv1.Ack{Seq: 1}}}))

	db, err := state.Open(f.TempDir(), state.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	var ops []source.Op
	for i := range 40 {
		ops = append(ops, source.Op{Upsert: fileFact(fmt.Sprintf("/f/%d", i), "x")})
	}
	if _, err := db.Apply(ops); err != nil {
		f.Fatal(err)
	}
	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		// New changes now and then, so there is a spool to ack.
		if n++; n%8 == 0 {
			if _, err := db.Apply([]source.Op{{Upsert: fileFact(fmt.Sprintf("/g/%d", n%64), fmt.Sprint(n))}}); err != nil {
				t.Fatal(err)
			}
		}
		before := db.Status()
		c := New(noCollectors{}, Config{HostID: "h"}, db, nil, slog.New(slog.DiscardHandler), nil)
		_ = c.session(context.Background(), &scriptConn{script: collectorScript(data)}, endpoint.Endpoint{}, func(*plumbv1.Welcome) {})
		after := db.Status()
		if after.Seq < before.Seq || !fact.SeqWithin(before.Seq, after.Seq) {
			t.Fatalf("agent seq moved %d → %d", before.Seq, after.Seq)
		}
		if after.AckedSeq > after.Seq {
			t.Fatalf("acked seq %d above the last assigned %d", after.AckedSeq, after.Seq)
		}
	})
}
