package main

import (
	"context"
	"fmt"
	"google.golang.org/grpc"
	"strings"
	"time"

	"github.com/spf13/cobra"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/factjson"
)

func (a *app) tokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Join tokens, with which agents enroll (admin)",
		Args:  cobra.NoArgs,
	}
	var ttl time.Duration
	var uses uint32
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a join token and print it with the collector CA's pin",
		Args:  cobra.NoArgs,
		RunE: action(func(ctx context.Context) error {
			if ttl < time.Second {
				return usagef("--ttl %v: at least 1s", ttl)
			}
			if uses == 0 {
				return usagef("--uses: at least 1")
			}
			var resp *plumbv1.CreateJoinTokenResponse
			err := a.admin(ctx, "create join token", func(ctx context.Context, c plumbv1.AdminServiceClient) (err error) {
				resp, err = c.CreateJoinToken(ctx, &plumbv1.CreateJoinTokenRequest{
					TtlSeconds: int64(ttl / time.Second), Uses: uses,
				})
				return err
			})
			if err != nil {
				return err
			}
			expires := time.Unix(0, resp.GetExpiresUnixNano()).UTC()
			if a.opts.Output == outputJSON {
				return writeJSON(a.stdout, map[string]any{
					"token": resp.GetToken(), "ca_pin": resp.GetCaPin(),
					"expires": expires.Format(time.RFC3339), "uses": resp.GetUses(),
				})
			}
			fmt.Fprintf(a.stdout, "token:   %s\nca_pin:  %s\nexpires: %s (%d use%s)\n\nOn the new host:\n  plumb-agent --collector %s --join-token %s --ca-pin %s\n",
				resp.GetToken(), resp.GetCaPin(), expires.Format(time.RFC3339), resp.GetUses(), plural(int(resp.GetUses())),
				a.opts.Collector, resp.GetToken(), resp.GetCaPin())
			return nil
		}),
	}
	create.Flags().DurationVar(&ttl, "ttl", time.Hour, "how long the token may be used")
	create.Flags().Uint32Var(&uses, "uses", 1, "how many agents may enroll with it")
	cmd.AddCommand(create)
	return cmd
}

func (a *app) apitokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apitoken",
		Short: "API tokens for people and tools (admin)",
		Args:  cobra.NoArgs,
	}
	var role, name string
	var ttl time.Duration
	var pageSize uint32
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API token with a role: viewer (read), operator (also accept drift) or admin",
		Args:  cobra.NoArgs,
		RunE: action(func(ctx context.Context) error {
			r, ok := map[string]plumbv1.Role{
				"viewer": plumbv1.Role_ROLE_VIEWER, "operator": plumbv1.Role_ROLE_OPERATOR, "admin": plumbv1.Role_ROLE_ADMIN,
			}[strings.ToLower(role)]
			if !ok {
				return usagef("--role %q: want viewer, operator or admin", role)
			}
			if ttl < 0 {
				return usagef("--ttl %v: must not be negative", ttl)
			}
			var resp *plumbv1.CreateAPITokenResponse
			err := a.admin(ctx, "create API token", func(ctx context.Context, c plumbv1.AdminServiceClient) (err error) {
				resp, err = c.CreateAPIToken(ctx, &plumbv1.CreateAPITokenRequest{
					Role: r, Name: name, TtlSeconds: int64(ttl / time.Second),
				})
				return err
			})
			if err != nil {
				return err
			}
			expires := ""
			if resp.GetExpiresUnixNano() != 0 {
				expires = time.Unix(0, resp.GetExpiresUnixNano()).UTC().Format(time.RFC3339)
			}
			if a.opts.Output == outputJSON {
				return writeJSON(a.stdout, map[string]any{
					"token": resp.GetToken(), "name": resp.GetName(), "role": strings.ToLower(role), "expires": expires,
				})
			}
			fmt.Fprintf(a.stdout, "token: %s\nname:  %s\nrole:  %s\n", resp.GetToken(), resp.GetName(), strings.ToLower(role))
			if expires != "" {
				fmt.Fprintf(a.stdout, "expires: %s\n", expires)
			}
			return nil
		}),
	}
	create.Flags().StringVar(&role, "role", "viewer", "viewer, operator or admin")
	create.Flags().StringVar(&name, "name", "", "name recorded as who acted (default <role>-<id>)")
	create.Flags().DurationVar(&ttl, "ttl", 0, "how long the token is valid (0: no expiry)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List API tokens: id, name, role, expiry (never the secrets)",
		Args:  cobra.NoArgs,
		RunE: action(func(ctx context.Context) error {
			out := newListOutput(a, []string{"ID", "NAME", "ROLE", "CREATED", "EXPIRES", "CREATED BY"},
				func(t *plumbv1.APIToken) any { return apiTokenJSON(t) },
				func(t *plumbv1.APIToken) []string {
					j := apiTokenJSON(t)
					return []string{t.GetId(), esc(t.GetName()), j["role"].(string), j["created"].(string), orDash(j["expires"].(string)), esc(t.GetCreatedBy())}
				})
			req := &plumbv1.ListAPITokensRequest{PageSize: pageSize}
			err := pageService(ctx, a, "list API tokens", plumbv1.NewAdminServiceClient, func(ctx context.Context, c plumbv1.AdminServiceClient, token string) (string, error) {
				req.PageToken = token
				resp, err := c.ListAPITokens(ctx, req)
				if err != nil {
					return "", err
				}
				return resp.GetNextPageToken(), out.page(resp.GetTokens())
			})
			if err != nil {
				return err
			}
			return out.close()
		}),
	}
	pageSizeFlag(list, &pageSize)
	revoke := &cobra.Command{
		Use:   "revoke ID|NAME",
		Short: "Delete an API token: calls with it fail from then on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return action(func(ctx context.Context) error {
				var resp *plumbv1.RevokeAPITokenResponse
				err := a.admin(ctx, "revoke API token", func(ctx context.Context, c plumbv1.AdminServiceClient) (err error) {
					resp, err = c.RevokeAPIToken(ctx, &plumbv1.RevokeAPITokenRequest{Token: args[0]})
					return err
				})
				if err != nil {
					return err
				}
				if a.opts.Output == outputJSON {
					return writeJSON(a.stdout, apiTokenJSON(resp.GetRevoked()))
				}
				fmt.Fprintf(a.stdout, "revoked API token %s (%s)\n", resp.GetRevoked().GetId(), esc(resp.GetRevoked().GetName()))
				return nil
			})(cmd, args)
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func apiTokenJSON(t *plumbv1.APIToken) map[string]any {
	expires := ""
	if t.GetExpiresUnixNano() != 0 {
		expires = factjson.Time(t.GetExpiresUnixNano())
	}
	return map[string]any{
		"id": t.GetId(), "name": t.GetName(), "role": strings.ToLower(strings.TrimPrefix(t.GetRole().String(), "ROLE_")),
		"created": factjson.Time(t.GetCreatedUnixNano()), "expires": expires, "created_by": t.GetCreatedBy(),
	}
}

func (a *app) revokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke HOST",
		Short: "Make every certificate of HOST useless at once (admin); it may enroll again with a new join token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return action(func(ctx context.Context) error {
				var resp *plumbv1.RevokeHostResponse
				err := a.admin(ctx, "revoke host", func(ctx context.Context, c plumbv1.AdminServiceClient) (err error) {
					resp, err = c.RevokeHost(ctx, &plumbv1.RevokeHostRequest{HostId: args[0]})
					return err
				})
				if err != nil {
					return err
				}
				if a.opts.Output == outputJSON {
					return writeJSON(a.stdout, map[string]any{"host_id": args[0], "streams_closed": resp.GetStreamsClosed()})
				}
				fmt.Fprintf(a.stdout, "revoked %s (%d live stream%s ended)\n", args[0], resp.GetStreamsClosed(), plural(int(resp.GetStreamsClosed())))
				return nil
			})(cmd, args)
		},
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// admin makes one AdminService call, op naming it in errors.
func (a *app) admin(ctx context.Context, op string, call func(context.Context, plumbv1.AdminServiceClient) error) error {
	return serviceCall(ctx, a, op, plumbv1.NewAdminServiceClient, call)
}

// serviceCall makes one call on the client newClient makes of a fresh
// connection, within the call timeout, op naming it in errors.
func serviceCall[C any](ctx context.Context, a *app, op string, newClient func(grpc.ClientConnInterface) C, call func(context.Context, C) error) error {
	cc, closeConn, err := a.dial()
	if err != nil {
		return err
	}
	defer closeConn()
	cctx, cancel := a.callContext(ctx)
	defer cancel()
	if err := call(cctx, newClient(cc)); err != nil {
		return a.rpcError(op, err)
	}
	return nil
}
