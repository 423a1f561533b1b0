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
	var (
		host, kind, key string
		pageSize        uint32
	)
	cmd := &cobra.Command{
		Use:   "facts --host HOST [--kind KIND] [--key GLOB]",
		Short: "List a host's current facts",
		Args:  cobra.NoArgs,
		RunE: action(func(ctx context.Context) error {
			return a.facts(ctx, host, kind, key, pageSize)
		}),
	}
	cmd.Flags().StringVar(&host, "host", "", "host id (required)")
	cmd.Flags().StringVar(&kind, "kind", "", "only this kind: file, package, conffile, kernel, kmod or sysctl")
	cmd.Flags().StringVar(&key, "key", "", "only keys matching this glob, as plumbctl prints them (/etc/**/*.conf)")
	pageSizeFlag(cmd, &pageSize)
	return cmd
}

func (a *app) facts(ctx context.Context, host, kindName, key string, pageSize uint32) error {
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
	out := newListOutput(a, []string{"KIND", "KEY", "DIGEST", "SUMMARY"},
		func(f *plumbv1.Fact) any { return factjson.FromFact(f) },
		func(f *plumbv1.Fact) []string {
			return []string{
				fact.KindName(f.GetKind()),
				fact.Display(f.GetKey()),
				orDash(short(hex.EncodeToString(f.GetDigest()), 12)),
				orDash(summary(f)),
			}
		})
	req := &plumbv1.ListFactsRequest{HostId: host, Kind: kind, KeyGlob: key, PageSize: pageSize}
	err = a.pageThrough(ctx, "list facts", func(ctx context.Context, token string) (string, error) {
		req.PageToken = token
		resp, err := client.ListFacts(ctx, req)
		if err != nil {
			return "", err
		}
		return resp.GetNextPageToken(), out.page(resp.GetFacts())
	})
	if err != nil {
		return err
	}
	return out.close()
}
