package auth

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// methodRoles is the least role each API method needs. A method in
// neither this table nor selfAuthenticated is refused: a new RPC is
// closed until someone decides who may call it.
var methodRoles = map[string]plumbv1.Role{
	plumbv1.QueryService_ListHosts_FullMethodName:        plumbv1.Role_ROLE_VIEWER,
	plumbv1.QueryService_ListFacts_FullMethodName:        plumbv1.Role_ROLE_VIEWER,
	plumbv1.QueryService_ListDrift_FullMethodName:        plumbv1.Role_ROLE_VIEWER,
	plumbv1.QueryService_GetDrift_FullMethodName:         plumbv1.Role_ROLE_VIEWER,
	plumbv1.QueryService_WatchDrift_FullMethodName:       plumbv1.Role_ROLE_VIEWER,
	plumbv1.QueryService_AcceptDrift_FullMethodName:      plumbv1.Role_ROLE_OPERATOR,
	plumbv1.QueryService_ListNotifiers_FullMethodName:    plumbv1.Role_ROLE_OPERATOR,
	plumbv1.QueryService_PromoteBaseline_FullMethodName:  plumbv1.Role_ROLE_OPERATOR,
	plumbv1.QueryService_GetGroupBaseline_FullMethodName: plumbv1.Role_ROLE_VIEWER,
	plumbv1.SilenceService_ListSilences_FullMethodName:   plumbv1.Role_ROLE_VIEWER,
	plumbv1.SilenceService_CreateSilence_FullMethodName:  plumbv1.Role_ROLE_OPERATOR,
	plumbv1.SilenceService_ExpireSilence_FullMethodName:  plumbv1.Role_ROLE_OPERATOR,
	plumbv1.AdminService_CreateJoinToken_FullMethodName:  plumbv1.Role_ROLE_ADMIN,
	plumbv1.AdminService_CreateAPIToken_FullMethodName:   plumbv1.Role_ROLE_ADMIN,
	plumbv1.AdminService_RevokeHost_FullMethodName:       plumbv1.Role_ROLE_ADMIN,
	plumbv1.AdminService_ListAPITokens_FullMethodName:    plumbv1.Role_ROLE_ADMIN,
	plumbv1.AdminService_RevokeAPIToken_FullMethodName:   plumbv1.Role_ROLE_ADMIN,
	plumbv1.QueryService_DiffHosts_FullMethodName:        plumbv1.Role_ROLE_VIEWER,
	plumbv1.QueryService_ListOutliers_FullMethodName:     plumbv1.Role_ROLE_VIEWER,
	plumbv1.QueryService_ListHistory_FullMethodName:      plumbv1.Role_ROLE_VIEWER,
	plumbv1.QueryService_ListFactChanges_FullMethodName:  plumbv1.Role_ROLE_VIEWER,
	plumbv1.QueryService_GetDriftStats_FullMethodName:    plumbv1.Role_ROLE_VIEWER,

	plumbv1.PolicyService_ApplyPolicy_FullMethodName:        plumbv1.Role_ROLE_OPERATOR,
	plumbv1.PolicyService_GetPolicy_FullMethodName:          plumbv1.Role_ROLE_VIEWER,
	plumbv1.PolicyService_ListPolicyVersions_FullMethodName: plumbv1.Role_ROLE_VIEWER,
}

// selfAuthenticated methods carry their own credential (a client
// certificate or a join token, checked by the handler), or reveal nothing:
// health, and reflection's schema.
var selfAuthenticated = map[string]bool{
	plumbv1.AgentService_Sync_FullMethodName:    true,
	plumbv1.EnrollService_Enroll_FullMethodName: true,
	plumbv1.EnrollService_Renew_FullMethodName:  true,
}

var openServices = []string{"/grpc.health.v1.Health/", "/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"}

// UnaryInterceptor authenticates unary API calls.
func (a *Authority) UnaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := a.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// StreamInterceptor authenticates streaming API calls.
func (a *Authority) StreamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := a.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return handler(srv, &callerStream{ServerStream: ss, ctx: ctx})
}

type callerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *callerStream) Context() context.Context { return s.ctx }

// authenticate checks the bearer token of a call against the role its
// method needs and returns ctx carrying the caller.
func (a *Authority) authenticate(ctx context.Context, method string) (context.Context, error) {
	if selfAuthenticated[method] {
		return ctx, nil
	}
	for _, p := range openServices {
		if strings.HasPrefix(method, p) {
			return ctx, nil
		}
	}
	need, ok := methodRoles[method]
	if !ok {
		return nil, a.deny("unknown_method", codes.PermissionDenied, "method %s is not open to API tokens", method)
	}
	token, err := bearer(ctx)
	if err != nil {
		return nil, a.deny("no_token", codes.Unauthenticated, "%v", err)
	}
	c, err := a.lookupToken(ctx, token)
	if err != nil {
		return nil, err
	}
	if c.Role < need {
		return nil, a.deny("role", codes.PermissionDenied, "%s needs the %s role; this token (%s) is %s",
			method, RoleName(need), c.Name, RoleName(c.Role))
	}
	return WithCaller(ctx, c), nil
}

func bearer(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return "", errors.New("this call needs an API token: pass --token, --token-file or PLUMB_TOKEN (on the collector host, the data dir's admin.token)")
	}
	if len(vals) > 1 {
		return "", errors.New("more than one authorization header")
	}
	tok, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok {
		return "", errors.New(`authorization header: want "Bearer <token>"`)
	}
	return tok, nil
}

// lookupToken finds the caller of an API token.
func (a *Authority) lookupToken(ctx context.Context, token string) (Caller, error) {
	id, hash, err := parseSecret(kindAPI, token)
	if err != nil {
		return Caller{}, a.deny("bad_token", codes.Unauthenticated, "API token: %v", err)
	}
	var t *store.APIToken
	err = a.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		t, err = tx.APIToken(id)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Caller{}, a.deny("bad_token", codes.Unauthenticated, "API token not recognised")
	case err != nil:
		return Caller{}, status.Errorf(codes.Unavailable, "API token: %v", err)
	case !sameHash(t.Hash, hash):
		return Caller{}, a.deny("bad_token", codes.Unauthenticated, "API token not recognised")
	case t.Expires != 0 && a.now().UnixNano() >= t.Expires:
		return Caller{}, a.deny("expired_token", codes.Unauthenticated, "API token %s expired", t.Name)
	}
	return Caller{Name: t.Name, Role: plumbv1.Role(t.Role)}, nil
}
