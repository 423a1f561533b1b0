package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factjson"
)

func (a *app) diffCommand() *cobra.Command {
	var (
		hosts     []string
		kind, key string
		pageSize  uint32
	)
	cmd := &cobra.Command{
		Use:   "diff --host A --host B [--kind KIND] [--key GLOB]",
		Short: "Show the facts that differ between two hosts, side by side",
		Args:  cobra.NoArgs,
		RunE: action(func(ctx context.Context) error {
			return a.diff(ctx, hosts, kind, key, pageSize)
		}),
	}
	cmd.Flags().StringArrayVar(&hosts, "host", nil, "host id; give it twice (required)")
	cmd.Flags().StringVar(&kind, "kind", "", "only this kind: file, package, conffile, kernel, kmod or sysctl")
	cmd.Flags().StringVar(&key, "key", "", "only keys matching this glob, as plumbctl prints them (/etc/**/*.conf)")
	pageSizeFlag(cmd, &pageSize)
	return cmd
}

func parseKindFlag(name string) (plumbv1.FactKind, error) {
	if name == "" {
		return plumbv1.FactKind_FACT_KIND_UNSPECIFIED, nil
	}
	k, err := fact.ParseKind(name)
	if err != nil {
		return 0, usagef("--kind: %w", err)
	}
	return k, nil
}

func (a *app) diff(ctx context.Context, hosts []string, kindName, key string, pageSize uint32) error {
	if len(hosts) != 2 {
		return usagef("--host: give exactly two hosts (--host A --host B)")
	}
	kind, err := parseKindFlag(kindName)
	if err != nil {
		return err
	}
	client, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	side := func(f *plumbv1.Fact) string {
		if f == nil {
			return "-"
		}
		return orDash(summary(f)) + " " + short(hex.EncodeToString(f.GetDigest()), 12)
	}
	out := newListOutput(a, []string{"KIND", "KEY", esc(hosts[0]), esc(hosts[1]), "DIFFERS"},
		func(d *plumbv1.FactDifference) any { return factjson.FromFactDifference(d) },
		func(d *plumbv1.FactDifference) []string {
			differs := strings.Join(d.GetAttributes(), ",")
			switch {
			case d.GetB() == nil:
				differs = "only on " + esc(hosts[0])
			case d.GetA() == nil:
				differs = "only on " + esc(hosts[1])
			}
			return []string{fact.KindName(d.GetKind()), fact.Display(d.GetKey()), side(d.GetA()), side(d.GetB()), orDash(esc(differs))}
		})
	req := &plumbv1.DiffHostsRequest{HostA: hosts[0], HostB: hosts[1], Kind: kind, KeyGlob: key, PageSize: pageSize}
	err = a.pageThrough(ctx, "diff hosts", func(ctx context.Context, token string) (string, error) {
		req.PageToken = token
		resp, err := client.DiffHosts(ctx, req)
		if err != nil {
			return "", err
		}
		return resp.GetNextPageToken(), out.page(resp.GetDifferences())
	})
	if err != nil {
		return err
	}
	return out.close()
}

func (a *app) outliersCommand() *cobra.Command {
	var (
		labels, exclude []string
		kind, key       string
		all             bool
		pageSize        uint32
	)
	cmd := &cobra.Command{
		Use:   "outliers [--label K=V]... [--kind KIND] [--key GLOB] [--exclude GLOB]... [--no-default-exclude]",
		Short: "List hosts whose facts depart from what most hosts of their group have",
		Long: `List hosts whose facts depart from what most hosts of their group have.

The hosts the labels select are compared key by key. Where at least two
thirds of them (and at least two) agree on a fact (the same digest, or all
lacking it), each other host is an outlier: its value differs, it lacks the
fact (missing) or it alone has it (extra). Facts that legitimately differ per
host (/etc/hostname, /etc/machine-id, /var/lib/dbus/machine-id,
/etc/ssh/ssh_host_*) are left out unless --no-default-exclude is given.`,
		Args: cobra.NoArgs,
		RunE: action(func(ctx context.Context) error {
			k, err := parseKindFlag(kind)
			if err != nil {
				return err
			}
			return a.outliers(ctx, &plumbv1.ListOutliersRequest{
				LabelSelector: labelSelector(labels), Kind: k, KeyGlob: key,
				Exclude: exclude, NoDefaultExclude: all, PageSize: pageSize,
			})
		}),
	}
	cmd.Flags().StringArrayVar(&labels, "label", nil, "compare the hosts with this label: K=V, K!=V, K (set) or !K (unset); repeat for more")
	cmd.Flags().StringVar(&kind, "kind", "", "only this kind: file, package, conffile, kernel, kmod or sysctl")
	cmd.Flags().StringVar(&key, "key", "", "only keys matching this glob, as plumbctl prints them (/etc/**/*.conf)")
	cmd.Flags().StringArrayVar(&exclude, "exclude", nil, "also leave out keys matching this glob; repeat for more")
	cmd.Flags().BoolVar(&all, "no-default-exclude", false, "compare the facts that differ per host too (hostname, machine id, SSH host keys)")
	pageSizeFlag(cmd, &pageSize)
	return cmd
}

func (a *app) outliers(ctx context.Context, req *plumbv1.ListOutliersRequest) error {
	client, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	out := newListOutput(a, []string{"HOST", "KIND", "KEY", "FINDING"},
		func(o *plumbv1.Outlier) any { return factjson.FromOutlier(o) },
		func(o *plumbv1.Outlier) []string {
			return []string{esc(o.GetHostId()), fact.KindName(o.GetKind()), fact.Display(o.GetKey()), finding(o)}
		})
	err = a.pageThrough(ctx, "list outliers", func(ctx context.Context, token string) (string, error) {
		req.PageToken = token
		resp, err := client.ListOutliers(ctx, req)
		if err != nil {
			return "", err
		}
		return resp.GetNextPageToken(), out.page(resp.GetOutliers())
	})
	if err != nil {
		return err
	}
	return out.close()
}

// finding says how an outlier departs, in words.
func finding(o *plumbv1.Outlier) string {
	switch o.GetOutlier() {
	case plumbv1.OutlierKind_OUTLIER_KIND_MISSING:
		return fmt.Sprintf("missing; %d of %d hosts have it", o.GetAgree(), o.GetHosts())
	case plumbv1.OutlierKind_OUTLIER_KIND_EXTRA:
		return fmt.Sprintf("extra; %d of %d hosts lack it", o.GetAgree(), o.GetHosts())
	}
	return fmt.Sprintf("differs from %d of %d hosts", o.GetAgree(), o.GetHosts())
}
