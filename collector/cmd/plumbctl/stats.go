package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

func (a *app) statsCommand() *cobra.Command {
	var host, groupLabel, since string
	cmd := &cobra.Command{
		Use:   "stats [--host HOST] [--group-label KEY] [--since TIME]",
		Short: "Show drift score, transitions per day and mean time to resolve per host and group",
		Args:  cobra.NoArgs,
		RunE: action(func(ctx context.Context) error {
			req := &plumbv1.GetDriftStatsRequest{HostId: host, GroupLabel: groupLabel}
			var err error
			if req.SinceUnixNano, err = parseWhen("--since", since, time.Now()); err != nil {
				return err
			}
			return a.stats(ctx, req)
		}),
	}
	cmd.Flags().StringVar(&host, "host", "", "only this host")
	cmd.Flags().StringVar(&groupLabel, "group-label", "", "the host label whose values are the groups (default group)")
	cmd.Flags().StringVar(&since, "since", "", "the window of the rates: from this time, RFC 3339 or a duration ago (default 7 days)")
	return cmd
}

// statsJSON is the JSON form of GetDriftStats' answer.
type statsJSON struct {
	Hosts     []statJSON `json:"hosts"`
	Groups    []statJSON `json:"groups"`
	Truncated bool       `json:"truncated,omitempty"`
}

type statJSON struct {
	ID                string  `json:"id"`
	Hosts             uint32  `json:"hosts"`
	Score             uint64  `json:"score"`
	Open              uint64  `json:"open"`
	Transitions       uint64  `json:"transitions"`
	TransitionsPerDay float64 `json:"transitions_per_day"`
	Resolved          uint64  `json:"resolved"`
	MTTRSeconds       float64 `json:"mean_time_to_resolve_seconds"`
}

func (a *app) stats(ctx context.Context, req *plumbv1.GetDriftStatsRequest) error {
	client, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	cctx, cancel := a.callContext(ctx)
	defer cancel()
	resp, err := client.GetDriftStats(cctx, req)
	if err != nil {
		return a.rpcError("drift stats", err)
	}
	conv := func(in []*plumbv1.DriftStats) []statJSON {
		out := []statJSON{}
		for _, s := range in {
			out = append(out, statJSON{
				ID: s.GetId(), Hosts: s.GetHosts(), Score: s.GetScore(), Open: s.GetOpen(),
				Transitions: s.GetTransitions(), TransitionsPerDay: s.GetTransitionsPerDay(),
				Resolved: s.GetResolved(), MTTRSeconds: s.GetMeanTimeToResolveSeconds(),
			})
		}
		return out
	}
	j := &statsJSON{Hosts: conv(resp.GetHosts()), Groups: conv(resp.GetGroups()), Truncated: resp.GetTruncated()}
	if a.opts.Output == outputJSON {
		return writeJSON(a.stdout, j)
	}
	tab := newStreamTable(a.stdout, "OF", "ID", "HOSTS", "SCORE", "OPEN", "PER DAY", "MTTR")
	for _, part := range []struct {
		what string
		rows []statJSON
	}{{"host", j.Hosts}, {"group", j.Groups}} {
		for _, s := range part.rows {
			mttr := "-"
			if s.Resolved > 0 {
				mttr = (time.Duration(s.MTTRSeconds * float64(time.Second))).Round(time.Second).String()
			}
			tab.row(part.what, orDash(s.ID), fmt.Sprint(s.Hosts), fmt.Sprint(s.Score), fmt.Sprint(s.Open),
				fmt.Sprintf("%.2f", s.TransitionsPerDay), mttr)
		}
	}
	return tab.flush()
}
