package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

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
func (a *app) watchDrift(ctx context.Context, host string) error {
	client, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	stream, err := client.WatchDrift(ctx, &plumbv1.WatchDriftRequest{HostId: host})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return a.rpcError("watch drift", err)
	}
	for {
		resp, err := stream.Recv()
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			fmt.Fprintln(a.stderr, "watch: the collector closed the stream")
			return nil
		case ctx.Err() != nil:
			return nil
		default:
			return a.rpcError("watch drift: stream dropped", err)
		}
		if err := a.writeEvent(resp.GetEvent()); err != nil {
			return err
		}
	}
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

// eventLine is the table-mode form of an event: time, type, host, kind,
// key, change, space separated, with the fixed-width fields padded so that
// successive lines line up.
func eventLine(ev *plumbv1.DriftEvent) string {
	it := ev.GetItem()
	typ := strings.TrimPrefix(factjson.EventType(ev.GetType()), "drift.")
	return fmt.Sprintf("%s  %-8s  %s  %-8s  %s  %s\n",
		timeCell(ev.GetAtUnixNano()),
		typ,
		esc(it.GetHostId()),
		fact.KindName(it.GetKind()),
		fact.Display(it.GetKey()),
		factjson.Change(it.GetChange()),
	)
}
