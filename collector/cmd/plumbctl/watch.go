package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factjson"
)

// watchDrift prints each drift event as the collector streams it, one line
// per event, written (and flushed) before the next is read, so that a pipe
// into another tool sees events as they happen.
//
// It returns nil when ctx is cancelled (SIGINT, SIGTERM) or the collector
// ends the stream cleanly, and an error when the stream breaks. --timeout
// bounds unary calls only, never the watch.
//
// A collector drops a watch that reads too slowly (ResourceExhausted,
// naming the after_seq to resume from); the watch then resumes there, so
// no event is lost or printed twice.
func (a *app) watchDrift(ctx context.Context, host string) error {
	client, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	var after uint64 // last event seq printed
	for {
		stream, err := client.WatchDrift(ctx, &plumbv1.WatchDriftRequest{HostId: host, AfterSeq: after})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return a.rpcError("watch drift", err)
		}
		for {
			resp, err := stream.Recv()
			if err == nil {
				if err := a.writeEvent(resp.GetEvent()); err != nil {
					return err
				}
				after = resp.GetEvent().GetSeq()
				continue
			}
			switch {
			case errors.Is(err, io.EOF):
				fmt.Fprintln(a.stderr, "watch: the collector closed the stream")
				return nil
			case ctx.Err() != nil:
				return nil
			}
			seq, ok := resumeAfter(err)
			if !ok {
				return a.rpcError("watch drift: stream dropped", err)
			}
			after = max(after, seq)
			fmt.Fprintf(a.stderr, "watch: the collector dropped this watch as too slow; resuming after event %d\n", after)
			break
		}
	}
}

// resumeAfter reads the resume cursor from a collector's "too slow"
// status.
func resumeAfter(err error) (uint64, bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.ResourceExhausted {
		return 0, false
	}
	_, rest, found := strings.Cut(st.Message(), "resume with after_seq ")
	if !found {
		return 0, false
	}
	seq, perr := strconv.ParseUint(strings.TrimSpace(rest), 10, 64)
	return seq, perr == nil
}

func (a *app) writeEvent(ev *plumbv1.DriftEvent) error {
	var line []byte
	if a.opts.Output == outputJSON {
		b, err := jsonLine(factjson.FromEvent(ev))
		if err != nil {
			return err
		}
		line = b
	} else {
		line = []byte(eventLine(ev))
	}
	if _, err := a.stdout.Write(line); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	if f, ok := a.stdout.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			return fmt.Errorf("write event: %w", err)
		}
	}
	return nil
}

// eventLine is the table-mode form of an event: time, type, severity,
// host, kind, key, change, space separated, with the fixed-width fields
// padded so that successive lines line up.
func eventLine(ev *plumbv1.DriftEvent) string {
	if sum := ev.GetSilenceSummary(); sum != nil {
		return fmt.Sprintf("%s  %s  %s  held back %d event(s) on %d item(s): %s\n",
			timeCell(ev.GetAtUnixNano()), factjson.EventType(ev.GetType()), esc(sum.GetSilence().GetId()),
			sum.GetEvents(), sum.GetItems(), esc(sum.GetSilence().GetReason()))
	}
	it := ev.GetItem()
	typ := strings.TrimPrefix(factjson.EventType(ev.GetType()), "drift.")
	return fmt.Sprintf("%s  %-8s  %-8s  %s  %-8s  %s  %s\n",
		timeCell(ev.GetAtUnixNano()),
		typ,
		factjson.Severity(it.GetSeverity()),
		esc(it.GetHostId()),
		fact.KindName(it.GetKind()),
		fact.Display(it.GetKey()),
		factjson.Change(it.GetChange()),
	)
}
