package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factjson"
)

func (a *app) historyCommand() *cobra.Command {
	var (
		host, since, until string
		pageSize           uint32
	)
	cmd := &cobra.Command{
		Use:   "history [--host HOST] [--since TIME] [--until TIME]",
		Short: "List drift transitions and operator actions (who, when, why) in the order they happened",
		Args:  cobra.NoArgs,
		RunE: action(func(ctx context.Context) error {
			now := time.Now()
			req := &plumbv1.ListHistoryRequest{HostId: host, PageSize: pageSize}
			var err error
			if req.SinceUnixNano, err = parseWhen("--since", since, now); err != nil {
				return err
			}
			if req.UntilUnixNano, err = parseWhen("--until", until, now); err != nil {
				return err
			}
			if req.UntilUnixNano != 0 && req.SinceUnixNano > req.UntilUnixNano {
				return usagef("--since %s is after --until %s", since, until)
			}
			return a.history(ctx, req)
		}),
	}
	cmd.Flags().StringVar(&host, "host", "", "only this host's history (default: the whole fleet)")
	cmd.Flags().StringVar(&since, "since", "", "from this time: RFC 3339 (2026-11-20T10:00Z) or a duration ago (24h)")
	cmd.Flags().StringVar(&until, "until", "", "before this time: RFC 3339 or a duration ago")
	pageSizeFlag(cmd, &pageSize)
	return cmd
}

// historyJSON is the JSON form of a history entry.
type historyJSON struct {
	At     string          `json:"at"`
	Host   string          `json:"host,omitempty"`
	Actor  string          `json:"actor"`
	Action string          `json:"action"`
	Target string          `json:"target,omitempty"`
	Reason string          `json:"reason,omitempty"`
	Event  *factjson.Event `json:"event,omitempty"`
}

func (a *app) history(ctx context.Context, req *plumbv1.ListHistoryRequest) error {
	client, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	out := newListOutput(a, []string{"AT", "HOST", "ACTOR", "ACTION", "TARGET", "REASON"},
		func(e *plumbv1.HistoryEntry) any {
			j := &historyJSON{
				At: factjson.Time(e.GetAtUnixNano()), Host: e.GetHostId(), Actor: e.GetActor(),
				Action: e.GetAction(), Target: e.GetTarget(), Reason: e.GetReason(),
			}
			if e.GetEvent() != nil {
				j.Event = factjson.FromEvent(e.GetEvent())
			}
			return j
		},
		func(e *plumbv1.HistoryEntry) []string {
			target := e.GetTarget()
			if ev := e.GetEvent(); ev.GetItem() != nil {
				target = driftTarget(ev.GetItem())
			}
			return []string{
				factjson.Time(e.GetAtUnixNano()), orDash(e.GetHostId()), e.GetActor(),
				e.GetAction(), orDash(target), orDash(e.GetReason()),
			}
		})
	err = a.pageThrough(ctx, "list history", func(ctx context.Context, token string) (string, error) {
		req.PageToken = token
		resp, err := client.ListHistory(ctx, req)
		if err != nil {
			return "", err
		}
		return resp.GetNextPageToken(), out.page(resp.GetEntries())
	})
	if err != nil {
		return err
	}
	return out.close()
}

// driftTarget names a drift item in a table: its kind and key.
func driftTarget(it *plumbv1.DriftItem) string {
	return fact.KindName(it.GetKind()) + " " + fact.Display(it.GetKey())
}
