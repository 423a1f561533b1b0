package silence

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/auth"
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

// ListSilences implements plumbv1.SilenceServiceServer.
func (s *Server) ListSilences(_ context.Context, req *plumbv1.ListSilencesRequest) (*plumbv1.ListSilencesResponse, error) {
	resp := &plumbv1.ListSilencesResponse{}
	now := s.book.opts.Now()
	for _, sil := range s.book.List(req.GetIncludeEnded()) {
		resp.Silences = append(resp.Silences, ToProto(sil, now))
	}
	return resp, nil
}

// ExpireSilence implements plumbv1.SilenceServiceServer.
func (s *Server) ExpireSilence(ctx context.Context, req *plumbv1.ExpireSilenceRequest) (*plumbv1.ExpireSilenceResponse, error) {
	if req.GetId() == "" || len(req.GetId()) > 128 {
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
