package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factjson"
)

// silenceArgs are the flags of `plumbctl silence create`.
type silenceArgs struct {
	hosts, labels []string
	kind, key     string
	dur           time.Duration
	reason        string
}

func (a *app) silenceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "silence",
		Short: "Hold back notifications of drift for a while: create, list, expire",
		Long: `A silence holds back notifications of the drift it matches: the drift is
still recorded, listed by plumbctl drift and watched, but not sent to
notifiers until the silence ends. When it ends (at its end, or expired
early) the collector sends one summary naming what was held back.
Creating and expiring need the operator role; each is recorded with the
API token's name. Maintenance windows configured on the collector are
listed too.`,
		Args: cobra.NoArgs,
	}
	var args silenceArgs
	create := &cobra.Command{
		Use:   `create (--host HOST | --label K=V)... [--kind KIND] [--key GLOB] --for DURATION --reason "why"`,
		Short: "Silence a host (id or glob) or the hosts with a label, from now for a duration",
		Args:  cobra.NoArgs,
		RunE:  action(func(ctx context.Context) error { return a.createSilence(ctx, args) }),
	}
	f := create.Flags()
	f.StringArrayVar(&args.hosts, "host", nil, "host id or glob (repeatable; any may match)")
	f.StringArrayVar(&args.labels, "label", nil, "host label K=V (repeatable; all must match)")
	f.StringVar(&args.kind, "kind", "", "only facts of this kind (file, package, ...)")
	f.StringVar(&args.key, "key", "", "only facts whose key matches this glob (e.g. '/etc/nginx/**')")
	f.DurationVar(&args.dur, "for", 0, "how long, from now (e.g. 30m, 2h; at most 720h) (required)")
	f.StringVar(&args.reason, "reason", "", "why, for the audit trail and the summary (required)")

	var all bool
	var pageSize uint32
	list := &cobra.Command{
		Use:   "list [--all]",
		Short: "List silences in force and upcoming maintenance windows; --all adds ended ones with who created and expired them",
		Args:  cobra.NoArgs,
		RunE:  action(func(ctx context.Context) error { return a.listSilences(ctx, all, pageSize) }),
	}
	list.Flags().BoolVar(&all, "all", false, "include ended and expired silences (the audit trail)")
	pageSizeFlag(list, &pageSize)

	expire := &cobra.Command{
		Use:   "expire ID",
		Short: "End a silence now; its summary follows",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, pos []string) error {
			return action(func(ctx context.Context) error { return a.expireSilence(ctx, pos[0]) })(cmd, pos)
		},
	}
	cmd.AddCommand(create, list, expire)
	return cmd
}

// request validates the flags and builds the CreateSilence request.
func (args silenceArgs) request() (*plumbv1.CreateSilenceRequest, error) {
	if len(args.hosts) == 0 && len(args.labels) == 0 {
		return nil, usagef("name what to silence: --host HOST or --label K=V")
	}
	if args.dur <= 0 {
		return nil, usagef("--for is required: how long the silence lasts (e.g. 30m)")
	}
	if args.dur%time.Second != 0 {
		return nil, usagef("--for %v: whole seconds only", args.dur)
	}
	if strings.TrimSpace(args.reason) == "" {
		return nil, usagef("--reason is required: say why (it is kept in the audit trail and named in the summary)")
	}
	m := &plumbv1.SilenceMatcher{Hosts: args.hosts, Key: args.key}
	for _, l := range args.labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, usagef("--label %q: want K=V", l)
		}
		if m.Labels == nil {
			m.Labels = map[string]string{}
		}
		if old, dup := m.Labels[k]; dup && old != v {
			return nil, usagef("--label %s given twice with different values", k)
		}
		m.Labels[k] = v
	}
	if args.kind != "" {
		k, err := fact.ParseKind(args.kind)
		if err != nil {
			return nil, usagef("--kind: %w", err)
		}
		m.Kind = k
	}
	return &plumbv1.CreateSilenceRequest{Matcher: m, DurationSeconds: int64(args.dur / time.Second), Reason: args.reason}, nil
}

func (a *app) createSilence(ctx context.Context, args silenceArgs) error {
	req, err := args.request()
	if err != nil {
		return err
	}
	var resp *plumbv1.CreateSilenceResponse
	err = a.silences(ctx, "create silence", func(ctx context.Context, c plumbv1.SilenceServiceClient) (err error) {
		resp, err = c.CreateSilence(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	s := resp.GetSilence()
	if a.opts.Output == outputJSON {
		return writeJSON(a.stdout, silenceJSONOf(s))
	}
	fmt.Fprintf(a.stdout, "silence %s: %s until %s\n", esc(s.GetId()), esc(matcherText(s.GetMatcher())), timeCell(s.GetEndsAtUnixNano()))
	return nil
}

func (a *app) listSilences(ctx context.Context, all bool, pageSize uint32) error {
	header := []string{"ID", "STATE", "MATCHES", "STARTS", "ENDS", "CREATED BY", "REASON"}
	if all {
		header = []string{"ID", "STATE", "MATCHES", "STARTS", "ENDS", "CREATED BY", "CREATED", "EXPIRED BY", "EXPIRED", "REASON"}
	}
	out := newListOutput(a, header, func(s *plumbv1.Silence) any { return silenceJSONOf(s) }, func(s *plumbv1.Silence) []string {
		row := []string{esc(s.GetId()), silenceState(s.GetState()), esc(matcherText(s.GetMatcher())),
			timeCell(s.GetStartsAtUnixNano()), timeCell(s.GetEndsAtUnixNano()), esc(orDash(s.GetCreatedBy()))}
		if all {
			row = append(row, timeCell(s.GetCreatedAtUnixNano()), esc(orDash(s.GetExpiredBy())), timeCell(s.GetExpiredAtUnixNano()))
		}
		return append(row, esc(s.GetReason()))
	})
	req := &plumbv1.ListSilencesRequest{IncludeEnded: all, PageSize: pageSize}
	err := pageService(ctx, a, "list silences", plumbv1.NewSilenceServiceClient, func(ctx context.Context, c plumbv1.SilenceServiceClient, token string) (string, error) {
		req.PageToken = token
		resp, err := c.ListSilences(ctx, req)
		if err != nil {
			return "", err
		}
		return resp.GetNextPageToken(), out.page(resp.GetSilences())
	})
	if err != nil {
		return err
	}
	return out.close()
}

func (a *app) expireSilence(ctx context.Context, id string) error {
	var resp *plumbv1.ExpireSilenceResponse
	err := a.silences(ctx, "expire silence", func(ctx context.Context, c plumbv1.SilenceServiceClient) (err error) {
		resp, err = c.ExpireSilence(ctx, &plumbv1.ExpireSilenceRequest{Id: id})
		return err
	})
	if err != nil {
		return err
	}
	s := resp.GetSilence()
	if a.opts.Output == outputJSON {
		return writeJSON(a.stdout, silenceJSONOf(s))
	}
	fmt.Fprintf(a.stdout, "expired silence %s (%s) as %s; the summary of what it held back follows\n",
		esc(s.GetId()), esc(matcherText(s.GetMatcher())), esc(s.GetExpiredBy()))
	return nil
}

// silences makes one SilenceService call, op naming it in errors.
func (a *app) silences(ctx context.Context, op string, call func(context.Context, plumbv1.SilenceServiceClient) error) error {
	return serviceCall(ctx, a, op, plumbv1.NewSilenceServiceClient, call)
}

// matcherText is a matcher as flags would say it: `host=web-* label=env=prod
// kind=file key=/etc/**`.
func matcherText(m *plumbv1.SilenceMatcher) string {
	var parts []string
	for _, h := range m.GetHosts() {
		parts = append(parts, "host="+h)
	}
	for _, k := range slices.Sorted(maps.Keys(m.GetLabels())) {
		parts = append(parts, "label="+k+"="+m.GetLabels()[k])
	}
	if m.GetKind() != plumbv1.FactKind_FACT_KIND_UNSPECIFIED {
		parts = append(parts, "kind="+fact.KindName(m.GetKind()))
	}
	if m.GetKey() != "" {
		parts = append(parts, "key="+m.GetKey())
	}
	return strings.Join(parts, " ")
}

func silenceState(s plumbv1.SilenceState) string {
	if s == plumbv1.SilenceState_SILENCE_STATE_UNSPECIFIED {
		return "-"
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "SILENCE_STATE_"))
}

type silenceJSON struct {
	ID         string            `json:"id"`
	State      string            `json:"state"`
	Hosts      []string          `json:"hosts"`
	Labels     map[string]string `json:"labels"`
	Kind       string            `json:"kind,omitempty"`
	Key        string            `json:"key,omitempty"`
	StartsAt   string            `json:"starts_at"`
	EndsAt     string            `json:"ends_at"`
	Reason     string            `json:"reason"`
	CreatedBy  string            `json:"created_by"`
	CreatedAt  string            `json:"created_at"`
	ExpiredBy  string            `json:"expired_by"`
	ExpiredAt  string            `json:"expired_at"`
	Window     string            `json:"window,omitempty"`
	Summarized bool              `json:"summarized"`
}

func silenceJSONOf(s *plumbv1.Silence) silenceJSON {
	m := s.GetMatcher()
	out := silenceJSON{
		ID: s.GetId(), State: silenceState(s.GetState()), Hosts: m.GetHosts(), Labels: m.GetLabels(), Key: m.GetKey(),
		StartsAt: factjson.Time(s.GetStartsAtUnixNano()), EndsAt: factjson.Time(s.GetEndsAtUnixNano()),
		Reason: s.GetReason(), CreatedBy: s.GetCreatedBy(), CreatedAt: factjson.Time(s.GetCreatedAtUnixNano()),
		ExpiredBy: s.GetExpiredBy(), ExpiredAt: factjson.Time(s.GetExpiredAtUnixNano()),
		Window: s.GetWindow(), Summarized: s.GetSummarized(),
	}
	if out.Hosts == nil {
		out.Hosts = []string{}
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if m.GetKind() != plumbv1.FactKind_FACT_KIND_UNSPECIFIED {
		out.Kind = fact.KindName(m.GetKind())
	}
	return out
}
