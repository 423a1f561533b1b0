package query

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/collector/store"
)

// WatchDrift streams drift events committed after the call starts (or
// after req.after_seq), of one host or of all. A host that has not
// connected yet may be watched: its events arrive once it does. The stream
// ends when the client leaves or the server closes.
//
// A watcher that does not read is dropped rather than buffered for: a send
// that does not complete within the watch send timeout ends the stream
// ResourceExhausted, naming the seq to resume after (after_seq). At most
// max_watch_streams watches are open at once.
func (s *Server) WatchDrift(req *plumbv1.WatchDriftRequest, stream grpc.ServerStreamingServer[plumbv1.WatchDriftResponse]) error {
	if s.events == nil {
		return status.Error(codes.Unimplemented, "this collector has no drift event feed")
	}
	if n := s.watches.Add(1); n > int64(s.limits.MaxWatchStreams) {
		s.watches.Add(-1)
		return s.lm.Refuse(codes.ResourceExhausted, limits.WatchStreams, "%d watch streams are open, at most %d; retry later", n-1, s.limits.MaxWatchStreams)
	}
	defer s.watches.Add(-1)
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
	if a := req.GetAfterSeq(); a > 0 {
		last = min(a, last)
	}
	s.logger.Debug("watch started", "host", req.GetHostId(), "after", last)
	// Headers now, not with the first event: the caller learns that the
	// watch is established (the HTTP watch answers 200 on them).
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}

	out := newTimedSender(stream)
	defer out.close()
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
		if last, err = s.sendAfter(ctx, out, req.GetHostId(), last); err != nil {
			return err
		}
	}
}

// sendAfter sends the events after seq that match host ("" for all) and
// returns the seq up to which every matching event was sent.
func (s *Server) sendAfter(ctx context.Context, out *timedSender, host string, seq uint64) (uint64, error) {
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
			if host == "" || ev.GetItem().GetHostId() == host {
				if err := out.send(ctx, &plumbv1.WatchDriftResponse{Event: s.redactEvent(ctx, ev)}, s.limits.WatchSendTimeout); err != nil {
					if err == errSendTimeout {
						return seq, s.lm.Refuse(codes.ResourceExhausted, limits.WatchSlow,
							"watcher did not read for %v; resume with after_seq %d", s.limits.WatchSendTimeout, seq)
					}
					return seq, err
				}
			}
			seq = ev.GetSeq()
		}
		if len(evs) < watchBatch {
			return seq, nil
		}
	}
}

// timedSender sends on a stream from its own goroutine, so that a send
// blocked by a client that does not read can be given up on: the handler
// returns, which ends the stream and with it the blocked send.
type timedSender struct {
	stream grpc.ServerStreamingServer[plumbv1.WatchDriftResponse]
	reqs   chan *plumbv1.WatchDriftResponse
	errs   chan error
}

type sendTimeoutError struct{}

func (sendTimeoutError) Error() string { return "send timed out" }

var errSendTimeout error = sendTimeoutError{}

func newTimedSender(stream grpc.ServerStreamingServer[plumbv1.WatchDriftResponse]) *timedSender {
	t := &timedSender{stream: stream, reqs: make(chan *plumbv1.WatchDriftResponse), errs: make(chan error, 1)}
	go func() {
		for m := range t.reqs {
			t.errs <- stream.Send(m)
		}
	}()
	return t
}

func (t *timedSender) send(ctx context.Context, m *plumbv1.WatchDriftResponse, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case t.reqs <- m:
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
	select {
	case err := <-t.errs:
		return err
	case <-timer.C:
		return errSendTimeout
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

// close ends the sending goroutine once its send in flight, if any,
// returns (the stream ends with the handler).
func (t *timedSender) close() { close(t.reqs) }
