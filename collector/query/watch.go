package query

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// WatchDrift streams drift events committed after the call starts, of one
// host or of all. A host that has not connected yet may be watched: its
// events arrive once it does. The stream ends when the client leaves or
// the server closes.
func (s *Server) WatchDrift(req *plumbv1.WatchDriftRequest, stream grpc.ServerStreamingServer[plumbv1.WatchDriftResponse]) error {
	if s.events == nil {
		return status.Error(codes.Unimplemented, "this collector has no drift event feed")
	}
	ctx := stream.Context()
	// Subscribe before reading the position, so nothing committed after
	// the read goes unsignalled.
	signal, cancel := s.events.Subscribe()
	defer cancel()
	var last uint64
	err := s.view(ctx, func(tx store.ReadTx) error {
		var err error
		last, err = tx.LastEventSeq()
		return err
	})
	if err != nil {
		return err
	}
	s.logger.Debug("watch started", "host", req.GetHostId(), "after", last)

	tick := time.NewTicker(s.poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.done:
			return status.Error(codes.Unavailable, "collector is shutting down")
		case <-signal:
		case <-tick.C:
		}
		if last, err = s.sendAfter(ctx, stream, req.GetHostId(), last); err != nil {
			return err
		}
	}
}

// sendAfter sends the events after seq that match host ("" for all) and
// returns the last seq read.
func (s *Server) sendAfter(ctx context.Context, stream grpc.ServerStreamingServer[plumbv1.WatchDriftResponse], host string, seq uint64) (uint64, error) {
	for {
		var evs []*plumbv1.DriftEvent
		err := s.view(ctx, func(tx store.ReadTx) error {
			var err error
			evs, err = tx.EventsAfter(seq, watchBatch)
			return err
		})
		if err != nil {
			return seq, err
		}
		for _, ev := range evs {
			seq = ev.GetSeq()
			if host != "" && ev.GetItem().GetHostId() != host {
				continue
			}
			if err := stream.Send(&plumbv1.WatchDriftResponse{Event: s.redactEvent(ctx, ev)}); err != nil {
				return seq, err
			}
		}
		if len(evs) < watchBatch {
			return seq, nil
		}
	}
}
