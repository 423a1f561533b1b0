package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factjson"
)

// promoteArgs are the flags of `plumbctl baseline promote`.
type promoteArgs struct {
	host, group, reason string
	kind, key           string
}

func (a *app) baselineCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "baseline",
		Short: "Group (golden) baselines: promote a host's state to its group's, show one",
		Long: `A group is the hosts whose "group" label (plumb-agent --label group=web) has
one value. Promoting a host makes its current facts (or a selection of
them) the group's baseline: every member is then held to it, not to its
own first snapshot, for the facts it covers. Facts that differ per host
by design (/etc/hostname, /etc/machine-id, SSH host keys, ...) are never
promoted; the collector's group_baseline.exclude setting adds to them.
Accepting drift on one member (plumbctl accept) makes an exception to
the group's baseline for that host and fact. Promoting needs the
operator role and is recorded with the API token's name and the reason.`,
		Args: cobra.NoArgs,
	}
	var args promoteArgs
	promote := &cobra.Command{
		Use:   `promote --host HOST --group GROUP [--kind KIND] [--key GLOB] --reason "why"`,
		Short: "Make a host's current facts the group's baseline, and re-evaluate every member",
		Args:  cobra.NoArgs,
		RunE:  action(func(ctx context.Context) error { return a.promote(ctx, args) }),
	}
	f := promote.Flags()
	f.StringVar(&args.host, "host", "", "the host whose state becomes the baseline (required)")
	f.StringVar(&args.group, "group", "", `the group: the value of members' "group" label (required)`)
	f.StringVar(&args.kind, "kind", "", "only facts of this kind (file, package, ...)")
	f.StringVar(&args.key, "key", "", "only facts whose key matches this glob (e.g. '/etc/nginx/**')")
	f.StringVar(&args.reason, "reason", "", "why, for the audit trail (required)")

	var group string
	show := &cobra.Command{
		Use:   "show --group GROUP",
		Short: "Say what a group's baseline is, who promoted it and why, and its per-host exceptions",
		Args:  cobra.NoArgs,
		RunE:  action(func(ctx context.Context) error { return a.showBaseline(ctx, group) }),
	}
	show.Flags().StringVar(&group, "group", "", "the group (required)")
	cmd.AddCommand(promote, show)
	return cmd
}

func (args promoteArgs) request() (*plumbv1.PromoteBaselineRequest, error) {
	switch {
	case args.host == "":
		return nil, usagef("--host is required: the host whose state becomes the baseline")
	case args.group == "":
		return nil, usagef("--group is required: the value of the members' group label")
	case strings.TrimSpace(args.reason) == "":
		return nil, usagef("--reason is required: say why (it is kept in the audit trail)")
	}
	req := &plumbv1.PromoteBaselineRequest{HostId: args.host, Group: args.group, Reason: args.reason, KeyGlob: args.key}
	if args.kind != "" {
		k, err := fact.ParseKind(args.kind)
		if err != nil {
			return nil, usagef("--kind: %w", err)
		}
		req.Kind = k
	}
	return req, nil
}

func (a *app) promote(ctx context.Context, args promoteArgs) error {
	req, err := args.request()
	if err != nil {
		return err
	}
	var resp *plumbv1.PromoteBaselineResponse
	err = serviceCall(ctx, a, "promote baseline", plumbv1.NewQueryServiceClient, func(ctx context.Context, c plumbv1.QueryServiceClient) (err error) {
		resp, err = c.PromoteBaseline(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	b := resp.GetBaseline()
	if a.opts.Output == outputJSON {
		return writeJSON(a.stdout, promoteJSON{
			Baseline: baselineJSONOf(b), Members: resp.GetMembers(),
			Opened: resp.GetOpened(), Resolved: resp.GetResolved(), Updated: resp.GetUpdated(),
		})
	}
	fmt.Fprintf(a.stdout, "group %s: baseline %d from host %s (%d facts) as %s; %d members re-evaluated: %d drift opened, %d resolved, %d updated\n",
		esc(b.GetGroup()), b.GetGeneration(), esc(b.GetSourceHostId()), b.GetFactCount(), esc(b.GetPromotedBy()),
		resp.GetMembers(), resp.GetOpened(), resp.GetResolved(), resp.GetUpdated())
	return nil
}

func (a *app) showBaseline(ctx context.Context, group string) error {
	if group == "" {
		return usagef("--group is required")
	}
	var resp *plumbv1.GetGroupBaselineResponse
	err := serviceCall(ctx, a, "show baseline", plumbv1.NewQueryServiceClient, func(ctx context.Context, c plumbv1.QueryServiceClient) (err error) {
		resp, err = c.GetGroupBaseline(ctx, &plumbv1.GetGroupBaselineRequest{Group: group})
		return err
	})
	if err != nil {
		return err
	}
	b := resp.GetBaseline()
	if a.opts.Output == outputJSON {
		return writeJSON(a.stdout, baselineJSONOf(b))
	}
	var s strings.Builder
	field := func(name, value string) { fmt.Fprintf(&s, "%-11s %s\n", name+":", value) }
	field("group", esc(b.GetGroup()))
	field("generation", fmt.Sprint(b.GetGeneration()))
	field("source", esc(b.GetSourceHostId()))
	field("promoted", timeCell(b.GetPromotedUnixNano())+" by "+esc(b.GetPromotedBy()))
	field("reason", esc(b.GetReason()))
	field("covers", esc(selectionsText(b.GetSelections())))
	field("facts", fmt.Sprint(b.GetFactCount()))
	field("members", fmt.Sprint(b.GetMembers()))
	more := ""
	if b.GetExceptionsTruncated() {
		more = " (the first 1,000)"
	}
	field("exceptions", fmt.Sprintf("%d%s", len(b.GetExceptions()), more))
	if _, err := a.stdout.Write([]byte(s.String())); err != nil {
		return err
	}
	if len(b.GetExceptions()) == 0 {
		return nil
	}
	fmt.Fprintln(a.stdout)
	t := newTable(a.stdout, "HOST", "KIND", "KEY", "ACCEPTED BY", "ACCEPTED", "REASON")
	for _, e := range b.GetExceptions() {
		t.row(esc(e.GetHostId()), fact.KindName(e.GetKind()), fact.Display(e.GetKey()),
			esc(e.GetAcceptedBy()), timeCell(e.GetAcceptedUnixNano()), esc(e.GetReason()))
	}
	return t.flush()
}

// selectionsText says what a baseline covers: "everything" or
// "kind=file key=/etc/nginx/**, kind=package".
func selectionsText(sels []*plumbv1.BaselineSelection) string {
	var parts []string
	for _, sel := range sels {
		var p []string
		if sel.GetKind() != plumbv1.FactKind_FACT_KIND_UNSPECIFIED {
			p = append(p, "kind="+fact.KindName(sel.GetKind()))
		}
		if sel.GetKeyGlob() != "" {
			p = append(p, "key="+sel.GetKeyGlob())
		}
		if len(p) == 0 {
			return "everything (but the exclusions)"
		}
		parts = append(parts, strings.Join(p, " "))
	}
	return strings.Join(parts, ", ")
}

type promoteJSON struct {
	Baseline baselineJSON `json:"baseline"`
	Members  uint32       `json:"members"`
	Opened   uint32       `json:"opened"`
	Resolved uint32       `json:"resolved"`
	Updated  uint32       `json:"updated"`
}

type baselineJSON struct {
	Group       string          `json:"group"`
	Generation  uint64          `json:"generation"`
	SourceHost  string          `json:"source_host"`
	PromotedBy  string          `json:"promoted_by"`
	PromotedAt  string          `json:"promoted_at"`
	Reason      string          `json:"reason"`
	Selections  []selectionJSON `json:"selections"`
	FactCount   uint64          `json:"fact_count"`
	Members     uint32          `json:"members"`
	Exceptions  []exceptionJSON `json:"exceptions"`
	MoreOmitted bool            `json:"exceptions_truncated"`
}

type selectionJSON struct {
	Kind string `json:"kind,omitempty"`
	Key  string `json:"key,omitempty"`
}

type exceptionJSON struct {
	Host       string `json:"host"`
	Kind       string `json:"kind"`
	Key        string `json:"key"`
	AcceptedBy string `json:"accepted_by"`
	AcceptedAt string `json:"accepted_at"`
	Reason     string `json:"reason"`
}

func baselineJSONOf(b *plumbv1.GroupBaseline) baselineJSON {
	out := baselineJSON{
		Group: b.GetGroup(), Generation: b.GetGeneration(), SourceHost: b.GetSourceHostId(),
		PromotedBy: b.GetPromotedBy(), PromotedAt: factjson.Time(b.GetPromotedUnixNano()), Reason: b.GetReason(),
		FactCount: b.GetFactCount(), Members: b.GetMembers(), MoreOmitted: b.GetExceptionsTruncated(),
		Selections: []selectionJSON{}, Exceptions: []exceptionJSON{},
	}
	for _, sel := range b.GetSelections() {
		s := selectionJSON{Key: sel.GetKeyGlob()}
		if sel.GetKind() != plumbv1.FactKind_FACT_KIND_UNSPECIFIED {
			s.Kind = fact.KindName(sel.GetKind())
		}
		out.Selections = append(out.Selections, s)
	}
	for _, e := range b.GetExceptions() {
		out.Exceptions = append(out.Exceptions, exceptionJSON{
			Host: e.GetHostId(), Kind: fact.KindName(e.GetKind()), Key: fact.Display(e.GetKey()),
			AcceptedBy: e.GetAcceptedBy(), AcceptedAt: factjson.Time(e.GetAcceptedUnixNano()), Reason: e.GetReason(),
		})
	}
	return out
}
