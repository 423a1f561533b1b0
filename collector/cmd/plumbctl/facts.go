package main

import (
	"context"
	"encoding/hex"
	"time"

	"github.com/spf13/cobra"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factjson"
)

func (a *app) factsCommand() *cobra.Command {
	var (
		host, kind, key         string
		at, changedSince, until string
		pageSize                uint32
	)
	cmd := &cobra.Command{
		Use:   "facts --host HOST [--kind KIND] [--key GLOB] [--at TIME | --changed-since TIME [--until TIME]]",
		Short: "List a host's facts, now or at a past time, or what changed between two times",
		Args:  cobra.NoArgs,
		RunE: action(func(ctx context.Context) error {
			now := time.Now()
			if changedSince != "" {
				if at != "" || kind != "" || key != "" {
					return usagef("--changed-since takes no --at, --kind or --key")
				}
				return a.factChanges(ctx, host, changedSince, until, now, pageSize)
			}
			if until != "" {
				return usagef("--until needs --changed-since")
			}
			atNano, err := parseWhen("--at", at, now)
			if err != nil {
				return err
			}
			return a.facts(ctx, host, kind, key, atNano, pageSize)
		}),
	}
	cmd.Flags().StringVar(&at, "at", "", "the facts as they were at this time: RFC 3339 (2026-11-20T10:00Z) or a duration ago (2h)")
	cmd.Flags().StringVar(&changedSince, "changed-since", "", "list the facts whose values differ between this time and --until (default now)")
	cmd.Flags().StringVar(&until, "until", "", "with --changed-since: the end of the range")
	cmd.Flags().StringVar(&host, "host", "", "host id (required)")
	cmd.Flags().StringVar(&kind, "kind", "", "only this kind: file, package, conffile, kernel, kmod or sysctl")
	cmd.Flags().StringVar(&key, "key", "", "only keys matching this glob, as plumbctl prints them (/etc/**/*.conf)")
	pageSizeFlag(cmd, &pageSize)
	return cmd
}

func (a *app) facts(ctx context.Context, host, kindName, key string, at int64, pageSize uint32) error {
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
	req := &plumbv1.ListFactsRequest{HostId: host, Kind: kind, KeyGlob: key, PageSize: pageSize, AtUnixNano: at}
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

// factChangeJSON is the JSON form of a fact whose value changed.
type factChangeJSON struct {
	Kind    string         `json:"kind"`
	Key     string         `json:"key"`
	Before  *factjson.Fact `json:"before"`
	After   *factjson.Fact `json:"after"`
	Changed string         `json:"changed_at"`
}

func (a *app) factChanges(ctx context.Context, host, since, until string, now time.Time, pageSize uint32) error {
	if host == "" {
		return usagef("--host is required")
	}
	req := &plumbv1.ListFactChangesRequest{HostId: host, PageSize: pageSize}
	var err error
	if req.SinceUnixNano, err = parseWhen("--changed-since", since, now); err != nil {
		return err
	}
	if req.UntilUnixNano, err = parseWhen("--until", until, now); err != nil {
		return err
	}
	if req.UntilUnixNano != 0 && req.UntilUnixNano < req.SinceUnixNano {
		return usagef("--until %s is before --changed-since %s", until, since)
	}
	client, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	digest := func(f *plumbv1.Fact) string {
		if f == nil {
			return "(absent)"
		}
		return orDash(short(hex.EncodeToString(f.GetDigest()), 12))
	}
	out := newListOutput(a, []string{"KIND", "KEY", "BEFORE", "AFTER", "CHANGED"},
		func(c *plumbv1.FactChange) any {
			j := &factChangeJSON{
				Kind: fact.KindName(c.GetKind()), Key: fact.Display(c.GetKey()),
				Changed: factjson.Time(c.GetChangedUnixNano()),
			}
			if c.GetBefore() != nil {
				j.Before = factjson.FromFact(c.GetBefore())
			}
			if c.GetAfter() != nil {
				j.After = factjson.FromFact(c.GetAfter())
			}
			return j
		},
		func(c *plumbv1.FactChange) []string {
			return []string{
				fact.KindName(c.GetKind()), fact.Display(c.GetKey()),
				digest(c.GetBefore()), digest(c.GetAfter()), factjson.Time(c.GetChangedUnixNano()),
			}
		})
	err = a.pageThrough(ctx, "list fact changes", func(ctx context.Context, token string) (string, error) {
		req.PageToken = token
		resp, err := client.ListFactChanges(ctx, req)
		if err != nil {
			return "", err
		}
		return resp.GetNextPageToken(), out.page(resp.GetChanges())
	})
	if err != nil {
		return err
	}
	return out.close()
}
