package auth

import (
	"context"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// Caller is who made an API call: the name and role of their token.
type Caller struct {
	Name string
	Role plumbv1.Role
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the authenticated caller of ctx; ok is false outside
// an authenticated API call.
func CallerFrom(ctx context.Context) (c Caller, ok bool) {
	c, ok = ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// RoleName is the lower-case name of a role, as plumbctl spells it.
func RoleName(r plumbv1.Role) string {
	switch r {
	case plumbv1.Role_ROLE_VIEWER:
		return "viewer"
	case plumbv1.Role_ROLE_OPERATOR:
		return "operator"
	case plumbv1.Role_ROLE_ADMIN:
		return "admin"
	}
	return "none"
}
