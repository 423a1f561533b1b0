package main

import (
	"context"

	"github.com/spf13/cobra"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factjson"
)

func (a *app) driftCommand() *cobra.Command {
	var (
		host       string
		all, watch bool
	)
	cmd := &cobra.Command{
		Use:   "drift [--host HOST] [--all | --watch]",
		Short: "List drift (open by default), or watch it as it happens",
		Args:  cobra.NoArgs,
		RunE: action(func(ctx context.Context) error {
			if watch {
				if all {
					return usagef("--all lists closed drift; it does not apply to --watch")
				}
				return a.watchDrift(ctx, host)
			}
			return a.listDrift(ctx, host, all)
		}),
	}
	cmd.Flags().StringVar(&host, "host", "", "only this host")
	cmd.Flags().BoolVar(&all, "all", false, "include resolved and accepted drift")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "stream drift events until interrupted")
	cmd.AddCommand(a.driftShowCommand())
	return cmd
}

func (a *app) listDrift(ctx context.Context, host string, all bool) error {
	client, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	cctx, cancel := a.callContext(ctx)
	defer cancel()
	resp, err := client.ListDrift(cctx, &plumbv1.ListDriftRequest{HostId: host, IncludeClosed: all})
	if err != nil {
		return a.rpcError("list drift", err)
	}
	return a.writeDriftItems(resp.GetItems())
}

// writeDriftItems prints drift items as a table or a JSON array.
func (a *app) writeDriftItems(items []*plumbv1.DriftItem) error {
	if a.opts.Output == outputJSON {
		out := make([]*factjson.DriftItem, 0, len(items))
		for _, it := range items {
			out = append(out, factjson.FromDriftItem(it))
		}
		return writeJSON(a.stdout, out)
	}
	t := newTable(a.stdout, "ID", "HOST", "KIND", "KEY", "CHANGE", "STATUS", "SEVERITY", "DETECTED")
	for _, it := range items {
		t.row(
			esc(short(it.GetId(), 12)),
			esc(it.GetHostId()),
			fact.KindName(it.GetKind()),
			fact.Display(it.GetKey()),
			factjson.Change(it.GetChange()),
			factjson.Status(it.GetStatus()),
			orDash(factjson.Severity(it.GetSeverity())),
			timeCell(it.GetDetectedUnixNano()),
		)
	}
	return t.flush()
}
