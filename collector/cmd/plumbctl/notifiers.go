package main

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/factjson"
)

func (a *app) notifiersCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "notifiers",
		Short: "Show how each notifier's deliveries stand: backlog, last success, last error (operator)",
		Args:  cobra.NoArgs,
		RunE:  action(a.notifiers),
	}
}

type notifierJSON struct {
	Name        string `json:"name"`
	Cursor      uint64 `json:"cursor"`
	Backlog     uint64 `json:"backlog"`
	LastSuccess string `json:"last_success"`
	LastErrorAt string `json:"last_error_at"`
	LastError   string `json:"last_error"`
	Delivered   uint64 `json:"delivered"`
	Dropped     uint64 `json:"dropped"`
	Retries     uint64 `json:"retries"`
}

func (a *app) notifiers(ctx context.Context) error {
	client, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	cctx, cancel := a.callContext(ctx)
	defer cancel()
	resp, err := client.ListNotifiers(cctx, &plumbv1.ListNotifiersRequest{})
	if err != nil {
		return a.rpcError("list notifiers", err)
	}
	if a.opts.Output == outputJSON {
		out := make([]notifierJSON, 0, len(resp.GetNotifiers()))
		for _, n := range resp.GetNotifiers() {
			out = append(out, notifierJSON{
				Name: n.GetName(), Cursor: n.GetCursor(), Backlog: n.GetBacklog(),
				LastSuccess: factjson.Time(n.GetLastSuccessUnixNano()), LastErrorAt: factjson.Time(n.GetLastErrorUnixNano()),
				LastError: n.GetLastError(), Delivered: n.GetDelivered(), Dropped: n.GetDropped(), Retries: n.GetRetries(),
			})
		}
		return writeJSON(a.stdout, out)
	}
	t := newTable(a.stdout, "NAME", "BACKLOG", "DELIVERED", "DROPPED", "LAST SUCCESS", "LAST ERROR")
	for _, n := range resp.GetNotifiers() {
		lastErr := "-"
		if n.GetLastError() != "" {
			lastErr = timeCell(n.GetLastErrorUnixNano()) + " " + esc(n.GetLastError())
		}
		t.row(esc(n.GetName()), strconv.FormatUint(n.GetBacklog(), 10), strconv.FormatUint(n.GetDelivered(), 10),
			strconv.FormatUint(n.GetDropped(), 10), timeCell(n.GetLastSuccessUnixNano()), lastErr)
	}
	return t.flush()
}
