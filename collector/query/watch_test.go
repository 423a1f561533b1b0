package query

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// watch opens a stream and waits until the server has subscribed.
func (r *rig) watch(ctx context.Context, host string) grpc.ServerStreamingClient[plumbv1.WatchDriftResponse] {
	r.t.Helper()
	before := r.bc.subscribers()
	stream, err := r.client.WatchDrift(ctx, &plumbv1.WatchDriftRequest{HostId: host})
	if err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.bc.subscribers() <= before {
		if time.Now().After(deadline) {
			r.t.Fatal("watch never subscribed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return stream
}

func recv(t *testing.T, s grpc.ServerStreamingClient[plumbv1.WatchDriftResponse]) *plumbv1.DriftEvent {
	t.Helper()
	resp, err := s.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	return resp.GetEvent()
}

func TestWatchDrift(t *testing.T) {
	r := newRig(t, func(s *Server) { s.poll = time.Hour }) // only signals wake the watch
	r.seed()
	ctx := ctxT(t)
	all := r.watch(ctx, "")
	db := r.watch(ctx, "db-1")

	r.apply("web-1", upsert(sysctl("z", "1")))
	ev := recv(t, all)
	if ev.GetType() != plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED || string(ev.GetItem().GetKey()) != "z" ||
		ev.GetItem().GetHostId() != "web-1" || ev.GetSeq() <= 4 {
		t.Errorf("first event on the all-hosts watch = %v, want the new OPENED z (not older events)", ev)
	}

	r.apply("db-1", upsert(sysctl("x", "2")))
	ev = recv(t, db)
	if ev.GetItem().GetHostId() != "db-1" || string(ev.GetItem().GetKey()) != "x" {
		t.Errorf("first event on the db-1 watch = %v, want db-1's x (web-1's filtered out)", ev)
	}
	if ev := recv(t, all); ev.GetItem().GetHostId() != "db-1" {
		t.Errorf("all-hosts watch missed db-1: %v", ev)
	}

	// Accepting over the API wakes watchers too.
	_, err := r.client.AcceptDrift(ctx, &plumbv1.AcceptDriftRequest{HostId: "db-1", Reason: "ok", AcceptedBy: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if ev := recv(t, db); ev.GetType() != plumbv1.DriftEventType_DRIFT_EVENT_TYPE_ACCEPTED {
		t.Errorf("after accept: %v, want ACCEPTED", ev)
	}
}

func TestWatchDriftPollsWithoutSignal(t *testing.T) {
	r := newRig(t, func(s *Server) { s.poll = 20 * time.Millisecond })
	r.seed()
	ctx := ctxT(t)
	all := r.watch(ctx, "")
	// Commit without Notify: the poll still delivers it.
	r.bcMute(func() { r.apply("web-1", upsert(sysctl("q", "1"))) })
	if ev := recv(t, all); string(ev.GetItem().GetKey()) != "q" {
		t.Errorf("polled event = %v", ev)
	}
}

// bcMute runs fn with a broadcaster that drops notifications.
func (r *rig) bcMute(fn func()) {
	real := r.bc
	r.bc = &Broadcaster{}
	defer func() { r.bc = real }()
	fn()
}

func TestWatchDriftEnds(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	s := r.watch(ctx, "")
	cancel()
	if _, err := s.Recv(); err == nil {
		t.Error("Recv after cancel succeeded")
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.bc.subscribers() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("server kept the subscription after the client left")
		}
		time.Sleep(5 * time.Millisecond)
	}

	s = r.watch(ctxT(t), "")
	r.srv.Close()
	_, err := s.Recv()
	wantCode(t, err, codes.Unavailable, "shutting down")
}

func TestWatchDriftWithoutFeed(t *testing.T) {
	r := newRig(t, func(s *Server) { s.events = nil })
	s, err := r.client.WatchDrift(ctxT(t), &plumbv1.WatchDriftRequest{})
	if err == nil {
		_, err = s.Recv()
	}
	wantCode(t, err, codes.Unimplemented, "")
}

func TestBroadcasterCoalesces(t *testing.T) {
	var b Broadcaster
	ch, cancel := b.Subscribe()
	b.Notify()
	b.Notify() // must not block
	<-ch
	select {
	case <-ch:
		t.Error("two signals queued; want one")
	default:
	}
	cancel()
	cancel()
	b.Notify()
	if b.subscribers() != 0 {
		t.Errorf("subscribers after cancel = %d", b.subscribers())
	}
}
