package query

import (
	"context"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/page"
)

// SetNotifiers gives the server what ListNotifiers reports: the alert
// dispatcher's view of each notifier.
func (s *Server) SetNotifiers(fn func() []*plumbv1.NotifierStatus) { s.notifiers = fn }

// ListNotifiers implements plumbv1.QueryServiceServer: the configured
// notifiers (a short list, held in memory) in name order, a page at a
// time.
func (s *Server) ListNotifiers(_ context.Context, req *plumbv1.ListNotifiersRequest) (*plumbv1.ListNotifiersResponse, error) {
	if s.notifiers == nil {
		return nil, status.Error(codes.Unimplemented, "this collector reports no notifiers")
	}
	size, err := s.pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	after, fp, err := decodeToken(page.Notifiers, req)
	if err != nil {
		return nil, err
	}
	list := slices.Clone(s.notifiers())
	slices.SortFunc(list, func(a, b *plumbv1.NotifierStatus) int { return strings.Compare(a.GetName(), b.GetName()) })
	b := page.NewBuilder[*plumbv1.NotifierStatus](size, s.pageBytes(), 0)
	for _, n := range list {
		if after != nil && n.GetName() <= string(after) {
			continue
		}
		if b.Offer([]byte(n.GetName()), n, true) != nil {
			break
		}
	}
	return &plumbv1.ListNotifiersResponse{Notifiers: b.Items(), NextPageToken: page.Encode(page.Notifiers, fp, b.Next())}, nil
}
