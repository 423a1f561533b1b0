package main

import (
	"context"
	"encoding/hex"

	"github.com/spf13/cobra"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factjson"
)

func (a *app) factsCommand() *cobra.Command {
	var host, kind string
	cmd := &cobra.Command{
		Use:   "facts --host HOST [--kind KIND]",
		Short: "List a host's current facts",
		Args:  cobra.NoArgs,
		RunE: action(func(ctx context.Context) error {
			return a.facts(ctx, host, kind)
		}),
	}
	cmd.Flags().StringVar(&host, "host", "", "host id (required)")
	cmd.Flags().StringVar(&kind, "kind", "", "only this kind: file, package, conffile, kernel, kmod or sysctl")
	return cmd
}

func (a *app) facts(ctx context.Context, host, kindName string) error {
	if host == "" {
		return usagef("--host is required")
	}
	var kind plumbv1.FactKind
	if kindName != "" {
		k, err := fact.ParseKind(kindName)
		if err != nil {
			return usagef("--kind: %w", err)
		}
		kind = k
	}
	client, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	cctx, cancel := a.callContext(ctx)
	defer cancel()
	resp, err := client.ListFacts(cctx, &plumbv1.ListFactsRequest{HostId: host, Kind: kind})
	if err != nil {
		return a.rpcError("list facts", err)
	}
	if a.opts.Output == outputJSON {
		out := make([]*factjson.Fact, 0, len(resp.GetFacts()))
		for _, f := range resp.GetFacts() {
			out = append(out, factjson.FromFact(f))
		}
		return writeJSON(a.stdout, out)
	}
	t := newTable(a.stdout, "KIND", "KEY", "DIGEST", "SUMMARY")
	for _, f := range resp.GetFacts() {
		t.row(
			fact.KindName(f.GetKind()),
			fact.Display(f.GetKey()),
			orDash(short(hex.EncodeToString(f.GetDigest()), 12)),
			orDash(summary(f)),
		)
	}
	return t.flush()
}
