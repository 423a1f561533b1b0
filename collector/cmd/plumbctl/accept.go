package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factjson"
)

// acceptArgs are the flags of `plumbctl accept`.
type acceptArgs struct {
	host, kind, key, reason string
}

func (a *app) acceptCommand() *cobra.Command {
	var args acceptArgs
	cmd := &cobra.Command{
		Use:   `accept --host HOST [--kind KIND] [--key KEY] --reason "why"`,
		Short: "Make drift the new baseline: one fact, or all of a host's open drift",
		Long: `Accept makes the current value of drifted facts the host's baseline and
records who accepted it and why. With --key it accepts one fact; --key is
the key as plumbctl prints it (escapes such as \xe9 for bytes that are not
UTF-8 are understood) and --kind, which defaults to file, says what kind of
fact it is. With --key, accept first shows the fact's current value and
then accepts only that value: if the fact changes before the collector
commits, nothing is accepted and accept fails. Without --key it accepts all
of the host's open drift, each fact at its value when the collector
commits. The accepting user is $SUDO_USER, or else the current user.`,
		Args: cobra.NoArgs,
		RunE: action(func(ctx context.Context) error {
			return a.accept(ctx, args)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&args.host, "host", "", "host id (required)")
	f.StringVar(&args.kind, "kind", "", "kind of the fact named by --key (default file)")
	f.StringVar(&args.key, "key", "", "the fact's key as plumbctl prints it; omit to accept all open drift")
	f.StringVar(&args.reason, "reason", "", "why the drift is accepted, for the audit log (required)")
	return cmd
}

// request validates the flags and builds the AcceptDrift request.
func (args acceptArgs) request(acceptedBy string) (*plumbv1.AcceptDriftRequest, error) {
	if args.host == "" {
		return nil, usagef("--host is required")
	}
	if strings.TrimSpace(args.reason) == "" {
		return nil, usagef(`--reason is required: say why this drift is accepted (it is kept in the audit log)`)
	}
	req := &plumbv1.AcceptDriftRequest{
		HostId:     args.host,
		Reason:     args.reason,
		AcceptedBy: acceptedBy,
	}
	if args.key == "" {
		if args.kind != "" {
			return nil, usagef("--kind needs --key; without --key, accept takes all of the host's open drift")
		}
		return req, nil
	}
	req.Kind = plumbv1.FactKind_FACT_KIND_FILE
	if args.kind != "" {
		k, err := fact.ParseKind(args.kind)
		if err != nil {
			return nil, usagef("--kind: %w", err)
		}
		req.Kind = k
	}
	key, err := fact.ParseDisplay(args.key)
	if err != nil {
		return nil, usagef("--key: %w", err)
	}
	req.Key = key
	return req, nil
}

func (a *app) accept(ctx context.Context, args acceptArgs) error {
	by, err := acceptingUser()
	if err != nil {
		return err
	}
	req, err := args.request(by)
	if err != nil {
		return err
	}
	client, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	// Health and expectation items are the collector's, with no value to
	// pin: it refuses them, and says why.
	raised := req.GetKind() == plumbv1.FactKind_FACT_KIND_HEALTH || req.GetKind() == plumbv1.FactKind_FACT_KIND_EXPECTATION
	if req.GetKey() != nil && !raised {
		// Accept what is shown, not whatever is current at commit.
		item, err := a.openDrift(ctx, client, req)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stderr, acceptingLine(item))
		req.Expected = &plumbv1.ExpectedValue{Digest: item.GetCurrent().GetDigest()}
	}
	cctx, cancel := a.callContext(ctx)
	defer cancel()
	resp, err := client.AcceptDrift(cctx, req)
	if status.Code(err) == codes.FailedPrecondition && req.GetExpected() != nil {
		return fmt.Errorf("accept drift: %s on %s changed since you looked; run plumbctl drift again",
			fact.Key{Kind: req.GetKind(), ID: string(req.GetKey())}, esc(req.GetHostId()))
	}
	if err != nil {
		return a.rpcError("accept drift", err)
	}
	accepted := resp.GetAccepted()
	if err := a.writeDriftItems(accepted); err != nil {
		return err
	}
	switch {
	case len(accepted) > 0:
		fmt.Fprintf(a.stderr, "accepted %d drift item(s) on %s as %s\n", len(accepted), esc(req.GetHostId()), esc(by))
	case req.GetKey() != nil:
		// The operator named one fact and it was not drifted: say so.
		return fmt.Errorf("accept drift: no open drift for %s on %s",
			fact.Key{Kind: req.GetKind(), ID: string(req.GetKey())}, esc(req.GetHostId()))
	default:
		fmt.Fprintf(a.stderr, "no open drift on %s\n", esc(req.GetHostId()))
	}
	return nil
}

// openDrift returns the open drift item of the fact req names, paging
// through the host's open drift of the fact's kind.
func (a *app) openDrift(ctx context.Context, client plumbv1.QueryServiceClient, req *plumbv1.AcceptDriftRequest) (*plumbv1.DriftItem, error) {
	var found *plumbv1.DriftItem
	list := &plumbv1.ListDriftRequest{HostId: req.GetHostId(), Kind: req.GetKind()}
	err := a.pageThrough(ctx, "accept drift", func(ctx context.Context, token string) (string, error) {
		list.PageToken = token
		resp, err := client.ListDrift(ctx, list)
		if err != nil {
			return "", err
		}
		for _, it := range resp.GetItems() {
			if it.GetKind() == req.GetKind() && bytes.Equal(it.GetKey(), req.GetKey()) &&
				it.GetStatus() == plumbv1.DriftStatus_DRIFT_STATUS_OPEN {
				found = it
				return "", nil
			}
		}
		return resp.GetNextPageToken(), nil
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("accept drift: no open drift for %s on %s",
			fact.Key{Kind: req.GetKind(), ID: string(req.GetKey())}, esc(req.GetHostId()))
	}
	return found, nil
}

// acceptingLine tells the operator which value is about to become the
// baseline: "accepting file /etc/hosts on web-1 at regular 0644 0:0 174B
// (modified, digest 3f0c1a2b3c4d)", or "... as removed".
func acceptingLine(it *plumbv1.DriftItem) string {
	what := fmt.Sprintf("%s %s on %s", fact.KindName(it.GetKind()), fact.Display(it.GetKey()), esc(it.GetHostId()))
	cur := it.GetCurrent()
	if cur == nil {
		return "accepting " + what + " as removed"
	}
	return fmt.Sprintf("accepting %s at %s (%s, digest %s)", what, orDash(summary(cur)),
		factjson.Change(it.GetChange()), orDash(short(hex.EncodeToString(cur.GetDigest()), 12)))
}
