package auth

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// AdminServer implements plumbv1.AdminServiceServer. The interceptor has
// already checked the admin role.
type AdminServer struct {
	plumbv1.UnimplementedAdminServiceServer
	a *Authority
}

// AdminServer returns the admin service.
func (a *Authority) AdminServer() *AdminServer { return &AdminServer{a: a} }

// Bounds of what an admin may ask for.
const (
	DefaultJoinTTL = time.Hour
	maxJoinTTL     = 30 * 24 * time.Hour
	maxJoinUses    = 100000
	maxNameLen     = 64
)

func callerName(ctx context.Context) string {
	if c, ok := CallerFrom(ctx); ok {
		return c.Name
	}
	return "unknown"
}

// CreateJoinToken implements plumbv1.AdminServiceServer.
func (s *AdminServer) CreateJoinToken(ctx context.Context, req *plumbv1.CreateJoinTokenRequest) (*plumbv1.CreateJoinTokenResponse, error) {
	a := s.a
	if a.ca == nil {
		return nil, status.Error(codes.FailedPrecondition, "this collector serves plaintext (--insecure): agents stream without enrolling, so join tokens are of no use")
	}
	ttl := time.Duration(req.GetTtlSeconds()) * time.Second
	if req.GetTtlSeconds() == 0 {
		ttl = DefaultJoinTTL
	}
	if req.GetTtlSeconds() < 0 || ttl > maxJoinTTL {
		return nil, status.Errorf(codes.InvalidArgument, "ttl: want 1s to %v", maxJoinTTL)
	}
	uses := req.GetUses()
	if uses == 0 {
		uses = 1
	}
	if uses > maxJoinUses {
		return nil, status.Errorf(codes.InvalidArgument, "uses: at most %d", maxJoinUses)
	}
	token, id, hash, err := newSecret(kindJoin)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "token: %v", err)
	}
	now := a.now()
	t := &store.JoinToken{ID: id, Hash: hash, Created: now.UnixNano(), Expires: now.Add(ttl).UnixNano(), UsesLeft: uses, CreatedBy: callerName(ctx)}
	if err := a.st.Update(ctx, func(tx store.Tx) error { return tx.PutJoinToken(t) }); err != nil {
		return nil, status.Errorf(codes.Unavailable, "store token: %v", err)
	}
	a.logger.Info("join token created", "id", id, "uses", uses, "expires", time.Unix(0, t.Expires), "by", t.CreatedBy)
	return &plumbv1.CreateJoinTokenResponse{Token: token, CaPin: a.ca.Pin, ExpiresUnixNano: t.Expires, Uses: uses}, nil
}

// CreateAPIToken implements plumbv1.AdminServiceServer.
func (s *AdminServer) CreateAPIToken(ctx context.Context, req *plumbv1.CreateAPITokenRequest) (*plumbv1.CreateAPITokenResponse, error) {
	a := s.a
	role := req.GetRole()
	if role < plumbv1.Role_ROLE_VIEWER || role > plumbv1.Role_ROLE_ADMIN {
		return nil, status.Error(codes.InvalidArgument, "role: want viewer, operator or admin")
	}
	if req.GetTtlSeconds() < 0 {
		return nil, status.Error(codes.InvalidArgument, "ttl: must not be negative")
	}
	token, id, hash, err := newSecret(kindAPI)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "token: %v", err)
	}
	name := req.GetName()
	if name == "" {
		name = RoleName(role) + "-" + id[:8]
	}
	if err := validName(name); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "name: %v", err)
	}
	now := a.now()
	t := &store.APIToken{ID: id, Hash: hash, Name: name, Role: int32(role), Created: now.UnixNano(), CreatedBy: callerName(ctx)}
	if req.GetTtlSeconds() > 0 {
		t.Expires = now.Add(time.Duration(req.GetTtlSeconds()) * time.Second).UnixNano()
	}
	if err := a.st.Update(ctx, func(tx store.Tx) error { return tx.PutAPIToken(t) }); err != nil {
		return nil, status.Errorf(codes.Unavailable, "store token: %v", err)
	}
	a.logger.Info("API token created", "name", name, "role", RoleName(role), "by", t.CreatedBy)
	return &plumbv1.CreateAPITokenResponse{Token: token, Name: name, Role: role, ExpiresUnixNano: t.Expires}, nil
}

func validName(n string) error {
	if len(n) > maxNameLen {
		return fmt.Errorf("at most %d bytes", maxNameLen)
	}
	for _, r := range n {
		if !unicode.IsPrint(r) || r == unicode.ReplacementChar {
			return errors.New("printable characters only")
		}
	}
	return nil
}

// RevokeHost implements plumbv1.AdminServiceServer.
func (s *AdminServer) RevokeHost(ctx context.Context, req *plumbv1.RevokeHostRequest) (*plumbv1.RevokeHostResponse, error) {
	a := s.a
	host := req.GetHostId()
	by := callerName(ctx)
	events := 0
	err := a.st.Update(ctx, func(tx store.Tx) error {
		id, err := tx.Identity(host)
		if err != nil {
			return err
		}
		id.Revoked = true
		id.RevokedAt = a.now().UnixNano()
		id.RevokedBy = by
		if err := tx.PutIdentity(id); err != nil {
			return err
		}
		// Revoking lifts a quarantine: the host id is free to enroll.
		events, err = a.identityHealth(tx, host, false, "revoked by "+by+": the quarantine is lifted and the host id may enroll again")
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "host %q has no enrolled identity", host)
	} else if err != nil {
		return nil, status.Errorf(codes.Unavailable, "revoke: %v", err)
	}
	a.notified(events)
	var n int
	if a.streams != nil {
		n = a.streams.CloseHost(host, status.Errorf(codes.PermissionDenied, "host %q was revoked", host))
	}
	a.logger.Warn("host revoked", "host", host, "by", by, "streams_closed", n)
	return &plumbv1.RevokeHostResponse{StreamsClosed: uint32(n)}, nil
}
