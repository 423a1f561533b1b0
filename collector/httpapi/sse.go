package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/factjson"
)

// watchHandler serves GET /v1/drift:watch: QueryService.WatchDrift as
// server-sent events. Each drift event is one SSE event, with id its seq
// and data its JSON as webhooks send it (pkg/factjson); a client that
// reconnects with Last-Event-ID (or ?after_seq=N) gets every event after
// that seq still in the log, once. ?host_id= watches one host.
//
// The call is WatchDrift's, with the request's bearer token, so it is
// authenticated and bounded as a gRPC watch is: the viewer role, at most
// max_watch_streams at once, and a client that stops reading is dropped
// (the collector's watch send timeout, or SSEWriteWait for a write to the
// client). When the collector ends the watch (dropped, shutting down) the
// last event is an "end" event with the status as {"code", "message"};
// the client resumes from the last id it read.
type watchHandler struct {
	client    plumbv1.QueryServiceClient
	gw        *runtime.ServeMux
	heartbeat time.Duration
	writeWait time.Duration
	logger    *slog.Logger
}

func (h *watchHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, err := watchRequest(r)
	if err != nil {
		writeError(w, r, h.gw, err)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if auth := r.Header.Values("Authorization"); len(auth) > 0 {
		md := metadata.MD{}
		md.Append("authorization", auth...)
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	stream, err := h.client.WatchDrift(ctx, req)
	if err != nil {
		writeError(w, r, h.gw, err)
		return
	}
	// WatchDrift sends its headers once the watch is set up; a refusal
	// (no token, wrong role, too many watches) ends it without.
	if md, _ := stream.Header(); md == nil {
		_, err := stream.Recv()
		if err == nil || errors.Is(err, io.EOF) {
			err = status.Error(status.Code(err), "the watch ended before it started")
		}
		writeError(w, r, h.gw, err)
		return
	}

	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	send := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(h.writeWait))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// A reconnecting EventSource waits this long (ms) before it retries.
	if !send([]byte("retry: 2000\n: watching drift events\n\n")) {
		return
	}

	events := make(chan *plumbv1.DriftEvent)
	ended := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				ended <- err
				return
			}
			select {
			case events <- m.GetEvent():
			case <-ctx.Done():
				ended <- ctx.Err()
				return
			}
		}
	}()
	beat := time.NewTicker(h.heartbeat)
	defer beat.Stop()
	for {
		select {
		case ev := <-events:
			b, err := json.Marshal(factjson.FromEvent(ev))
			if err != nil {
				h.logger.Warn("watch: event not rendered", "seq", ev.GetSeq(), "err", err)
				continue
			}
			if !send(sseEvent("", ev.GetSeq(), b)) {
				return
			}
		case <-beat.C:
			if !send([]byte(": heartbeat\n\n")) {
				return
			}
		case err := <-ended:
			if r.Context().Err() != nil {
				return // the client left
			}
			s := status.Convert(err)
			b, _ := Marshaler.Marshal(s.Proto())
			send(sseEvent("end", 0, b))
			return
		}
	}
}

// sseEvent is one event: its type (empty for the default "message"), id
// (0 for none) and one line of data.
func sseEvent(typ string, id uint64, data []byte) []byte {
	var b []byte
	if typ != "" {
		b = append(append(append(b, "event: "...), typ...), '\n')
	}
	if id != 0 {
		b = strconv.AppendUint(append(b, "id: "...), id, 10)
		b = append(b, '\n')
	}
	b = append(append(append(b, "data: "...), data...), "\n\n"...)
	return b
}

// watchRequest reads the watch's host_id and position: the Last-Event-ID
// header (a reconnecting EventSource sends it, with the URL it first
// opened) wins over ?after_seq=.
func watchRequest(r *http.Request) (*plumbv1.WatchDriftRequest, error) {
	q := r.URL.Query()
	req := &plumbv1.WatchDriftRequest{HostId: q.Get("host_id")}
	if len(req.HostId) > 1024 {
		return nil, errInvalid("host_id: longer than 1024 bytes")
	}
	for _, p := range []struct{ name, val string }{
		{"after_seq", q.Get("after_seq")},
		{"Last-Event-ID", r.Header.Get("Last-Event-ID")},
	} {
		if p.val == "" {
			continue
		}
		n, err := strconv.ParseUint(p.val, 10, 64)
		if err != nil {
			return nil, errInvalid("%s %q: want an event seq (a decimal number)", p.name, truncate(p.val, 64))
		}
		req.AfterSeq = n
	}
	return req, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
