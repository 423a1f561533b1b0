package query

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// SetNotifiers gives the server what ListNotifiers reports: the alert
// dispatcher's view of each notifier.
func (s *Server) SetNotifiers(fn func() []*plumbv1.NotifierStatus) { s.notifiers = fn }

// ListNotifiers implements plumbv1.QueryServiceServer.
func (s *Server) ListNotifiers(context.Context, *plumbv1.ListNotifiersRequest) (*plumbv1.ListNotifiersResponse, error) {
	if s.notifiers == nil {
		return nil, status.Error(codes.Unimplemented, "this collector reports no notifiers")
	}
	return &plumbv1.ListNotifiersResponse{Notifiers: s.notifiers()}, nil
}
