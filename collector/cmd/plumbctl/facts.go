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
	// The collector returns a big host's facts a page at a time; each
	// page is one call, with its own timeout.
	var facts []*plumbv1.Fact
	req := &plumbv1.ListFactsRequest{HostId: host, Kind: kind}
	for {
		cctx, cancel := a.callContext(ctx)
		resp, err := client.ListFacts(cctx, req)
		cancel()
		if err != nil {
			return a.rpcError("list facts", err)
		}
		facts = append(facts, resp.GetFacts()...)
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	if a.opts.Output == outputJSON {
		out := make([]*factjson.Fact, 0, len(facts))
		for _, f := range facts {
			out = append(out, factjson.FromFact(f))
		}
		return writeJSON(a.stdout, out)
	}
	t := newTable(a.stdout, "KIND", "KEY", "DIGEST", "SUMMARY")
	for _, f := range facts {
		t.row(
			fact.KindName(f.GetKind()),
			fact.Display(f.GetKey()),
			orDash(short(hex.EncodeToString(f.GetDigest()), 12)),
			orDash(summary(f)),
		)
	}
	return t.flush()
}
