package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factjson"
)

func (a *app) driftCommand() *cobra.Command {
	var (
		f          driftFlags
		all, watch bool
	)
	cmd := &cobra.Command{
		Use:   "drift [--host HOST] [--all | --state STATE | --watch] [filters]",
		Short: "List drift (open by default), or watch it as it happens",
		Args:  cobra.NoArgs,
		RunE: action(func(ctx context.Context) error {
			if watch {
				if all {
					return usagef("--all lists closed drift; it does not apply to --watch")
				}
				if f.filtered() {
					return usagef("--watch takes --host only; the other filters apply to lists")
				}
				return a.watchDrift(ctx, f.host)
			}
			req, err := f.request(all, time.Now())
			if err != nil {
				return err
			}
			return a.listDrift(ctx, req)
		}),
	}
	cmd.Flags().StringVar(&f.host, "host", "", "only this host")
	cmd.Flags().BoolVar(&all, "all", false, "include resolved and accepted drift (as --state all)")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "stream drift events until interrupted")
	cmd.Flags().StringArrayVar(&f.labels, "label", nil, "only hosts with this label: K=V, K!=V, K (set) or !K (unset); repeat for more")
	cmd.Flags().StringVar(&f.kind, "kind", "", "only this kind of fact")
	cmd.Flags().StringVar(&f.key, "key", "", "only keys matching this glob, as plumbctl prints them (/etc/**)")
	cmd.Flags().StringVar(&f.state, "state", "", "open (the default), resolved, accepted, closed or all")
	cmd.Flags().StringVar(&f.severity, "severity", "", "only items at least this severe: info, warning or critical")
	cmd.Flags().StringVar(&f.since, "since", "", "only items whose last change is at or after this time (RFC 3339, or a duration ago: 2h)")
	cmd.Flags().StringVar(&f.until, "until", "", "only items whose last change is before this time (RFC 3339, or a duration ago)")
	pageSizeFlag(cmd, &f.pageSize)
	cmd.AddCommand(a.driftShowCommand())
	return cmd
}

// driftFlags are drift's list filters.
type driftFlags struct {
	host, kind, key, state, severity, since, until string
	labels                                         []string
	pageSize                                       uint32
}

// filtered reports whether a filter other than --host is given.
func (f driftFlags) filtered() bool {
	return len(f.labels) > 0 || f.kind != "" || f.key != "" || f.state != "" || f.severity != "" ||
		f.since != "" || f.until != "" || f.pageSize != 0
}

func (f driftFlags) request(all bool, now time.Time) (*plumbv1.ListDriftRequest, error) {
	req := &plumbv1.ListDriftRequest{HostId: f.host, LabelSelector: labelSelector(f.labels), KeyGlob: f.key, PageSize: f.pageSize}
	if f.state != "" {
		v, ok := plumbv1.DriftState_value["DRIFT_STATE_"+strings.ToUpper(f.state)]
		if !ok || v == 0 {
			return nil, usagef("--state %q: want open, resolved, accepted, closed or all", f.state)
		}
		req.State = plumbv1.DriftState(v)
		if all && req.State != plumbv1.DriftState_DRIFT_STATE_ALL {
			return nil, usagef("--all is --state all; give one of them")
		}
	} else if all {
		req.IncludeClosed = true // what collectors older than --state understand too
	}
	if f.kind != "" {
		k, err := fact.ParseKind(f.kind)
		if err != nil {
			return nil, usagef("--kind: %w", err)
		}
		req.Kind = k
	}
	if f.severity != "" {
		v, ok := plumbv1.Severity_value["SEVERITY_"+strings.ToUpper(f.severity)]
		if !ok || v == 0 {
			return nil, usagef("--severity %q: want info, warning or critical", f.severity)
		}
		req.MinSeverity = plumbv1.Severity(v)
	}
	var err error
	if req.SinceUnixNano, err = parseWhen("--since", f.since, now); err != nil {
		return nil, err
	}
	if req.UntilUnixNano, err = parseWhen("--until", f.until, now); err != nil {
		return nil, err
	}
	if req.UntilUnixNano != 0 && req.SinceUnixNano > req.UntilUnixNano {
		return nil, usagef("--since %s is after --until %s", f.since, f.until)
	}
	return req, nil
}

// parseWhen reads a time flag: RFC 3339, or a duration before now.
func parseWhen(flag, s string, now time.Time) (int64, error) {
	if s == "" {
		return 0, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixNano(), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d).UnixNano(), nil
	}
	return 0, usagef("%s %q: want an RFC 3339 time (2026-03-01T10:00:00Z) or a duration ago (2h)", flag, s)
}

func (a *app) listDrift(ctx context.Context, req *plumbv1.ListDriftRequest) error {
	client, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	out := newListOutput(a, driftHeader, func(it *plumbv1.DriftItem) any { return factjson.FromDriftItem(it) }, driftRow)
	err = a.pageThrough(ctx, "list drift", func(ctx context.Context, token string) (string, error) {
		req.PageToken = token
		resp, err := client.ListDrift(ctx, req)
		if err != nil {
			return "", err
		}
		return resp.GetNextPageToken(), out.page(resp.GetItems())
	})
	if err != nil {
		return err
	}
	return out.close()
}

var driftHeader = []string{"ID", "HOST", "KIND", "KEY", "CHANGE", "STATUS", "SEVERITY", "DETECTED"}

func driftRow(it *plumbv1.DriftItem) []string {
	return []string{
		esc(short(it.GetId(), 12)),
		esc(it.GetHostId()),
		fact.KindName(it.GetKind()),
		fact.Display(it.GetKey()),
		factjson.Change(it.GetChange()),
		factjson.Status(it.GetStatus()),
		orDash(factjson.Severity(it.GetSeverity())),
		timeCell(it.GetDetectedUnixNano()),
	}
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
	t := newTable(a.stdout, driftHeader...)
	for _, it := range items {
		t.row(driftRow(it)...)
	}
	return t.flush()
}
