package silence

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/auth"
	"github.com/plumb-dev/plumb/collector/page"
)

// Server adapts a Book to plumbv1.SilenceServiceServer; domain errors
// become gRPC codes here.
type Server struct {
	plumbv1.UnimplementedSilenceServiceServer
	book *Book
}

// NewServer returns the SilenceService of b.
func NewServer(b *Book) *Server { return &Server{book: b} }

// caller names who is calling: the API token's name, never a name the
// client chose.
func caller(ctx context.Context) string {
	if c, ok := auth.CallerFrom(ctx); ok && c.Name != "" {
		return c.Name
	}
	return "unknown"
}

// CreateSilence implements plumbv1.SilenceServiceServer.
func (s *Server) CreateSilence(ctx context.Context, req *plumbv1.CreateSilenceRequest) (*plumbv1.CreateSilenceResponse, error) {
	m := req.GetMatcher()
	secs := req.GetDurationSeconds()
	if secs <= 0 || secs > int64(MaxDuration/time.Second) {
		return nil, status.Errorf(codes.InvalidArgument, "duration %ds: want 1s to %v", secs, MaxDuration)
	}
	sil, err := s.book.Create(ctx, Matcher{
		Hosts: m.GetHosts(), Labels: m.GetLabels(), Kind: m.GetKind(), Key: m.GetKey(),
	}, time.Duration(secs)*time.Second, req.GetReason(), caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	return &plumbv1.CreateSilenceResponse{Silence: ToProto(sil, s.book.opts.Now())}, nil
}

// ListSilences implements plumbv1.SilenceServiceServer: silences in
// (start, id) order, a page at a time. A silence's start and id never
// change, so a token resumes after the last one listed.
func (s *Server) ListSilences(_ context.Context, req *plumbv1.ListSilencesRequest) (*plumbv1.ListSilencesResponse, error) {
	size, err := page.Size(req.GetPageSize(), page.DefaultSize, page.MaxSize)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	fp := page.FingerprintOf(req)
	raw, err := page.Decode(req.GetPageToken(), page.Silences, fp)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	var after *pos
	if raw != nil {
		p, ok := decodePos(raw)
		if !ok {
			return nil, status.Errorf(codes.InvalidArgument, "%v: not a position of a silence", page.ErrToken)
		}
		after = &p
	}
	now := s.book.opts.Now()
	b := page.NewBuilder[*plumbv1.Silence](size, page.MaxBytes, 0)
	for _, sil := range s.book.List(req.GetIncludeEnded()) {
		p := pos{start: sil.StartsAt, id: sil.ID}
		if after != nil && !after.before(p) {
			continue
		}
		if b.Offer(p.encode(), ToProto(sil, now), true) != nil {
			break
		}
	}
	return &plumbv1.ListSilencesResponse{Silences: b.Items(), NextPageToken: page.Encode(page.Silences, fp, b.Next())}, nil
}

// pos is a silence's place in List's order.
type pos struct {
	start int64
	id    string
}

func (p pos) before(q pos) bool {
	return p.start < q.start || (p.start == q.start && p.id < q.id)
}

// encode is 8 bytes of start, big-endian with the sign bit flipped, then
// the id.
func (p pos) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(p.start)^(1<<63))
	return append(b, p.id...)
}

func decodePos(b []byte) (pos, bool) {
	if len(b) < 9 || len(b) > 8+MaxIDBytes {
		return pos{}, false
	}
	return pos{start: int64(binary.BigEndian.Uint64(b) ^ (1 << 63)), id: string(b[8:])}, true
}

// MaxIDBytes bounds a silence id in requests.
const MaxIDBytes = 128

// ExpireSilence implements plumbv1.SilenceServiceServer.
func (s *Server) ExpireSilence(ctx context.Context, req *plumbv1.ExpireSilenceRequest) (*plumbv1.ExpireSilenceResponse, error) {
	if req.GetId() == "" || len(req.GetId()) > MaxIDBytes {
		return nil, status.Error(codes.InvalidArgument, "id: want 1 to 128 bytes")
	}
	sil, err := s.book.Expire(ctx, req.GetId(), caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	return &plumbv1.ExpireSilenceResponse{Silence: ToProto(sil, s.book.opts.Now())}, nil
}

func toStatus(err error) error {
	code := codes.Internal
	switch {
	case errors.Is(err, ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, ErrTooMany):
		code = codes.ResourceExhausted
	case errors.Is(err, ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, ErrEnded), errors.Is(err, ErrWindow):
		code = codes.FailedPrecondition
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	return status.Error(code, err.Error())
}
