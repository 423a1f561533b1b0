package auth

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/page"
	"github.com/plumb-dev/plumb/collector/store"
)

func apiTokenProto(t *store.APIToken) *plumbv1.APIToken {
	return &plumbv1.APIToken{Id: t.ID, Name: t.Name, Role: plumbv1.Role(t.Role), CreatedUnixNano: t.Created,
		ExpiresUnixNano: t.Expires, CreatedBy: t.CreatedBy}
}

// ListAPITokens implements plumbv1.AdminServiceServer: tokens in id
// order, a page at a time.
func (s *AdminServer) ListAPITokens(ctx context.Context, req *plumbv1.ListAPITokensRequest) (*plumbv1.ListAPITokensResponse, error) {
	size, err := page.Size(req.GetPageSize(), page.DefaultSize, page.MaxSize)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	fp := page.FingerprintOf(req)
	after, err := page.Decode(req.GetPageToken(), page.APITokens, fp)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if after != nil && (len(after) == 0 || len(after) > maxTokenIDBytes) {
		return nil, status.Errorf(codes.InvalidArgument, "%v: not a position of a token", page.ErrToken)
	}
	b := page.NewBuilder[*plumbv1.APIToken](size, page.MaxBytes, 0)
	err = s.a.st.View(ctx, func(tx store.ReadTx) error {
		return page.Done(tx.APITokensAfter(string(after), func(t *store.APIToken) error {
			return b.Offer([]byte(t.ID), apiTokenProto(t), true)
		}))
	})
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "list tokens: %v", err)
	}
	return &plumbv1.ListAPITokensResponse{Tokens: b.Items(), NextPageToken: page.Encode(page.APITokens, fp, b.Next())}, nil
}

// maxTokenIDBytes bounds a token id in a page token.
const maxTokenIDBytes = 256

var errAmbiguous = errors.New("ambiguous")

// RevokeAPIToken implements plumbv1.AdminServiceServer.
func (s *AdminServer) RevokeAPIToken(ctx context.Context, req *plumbv1.RevokeAPITokenRequest) (*plumbv1.RevokeAPITokenResponse, error) {
	ref := req.GetToken()
	var gone *store.APIToken
	err := s.a.st.Update(ctx, func(tx store.Tx) error {
		t, err := tx.APIToken(ref)
		if errors.Is(err, store.ErrNotFound) {
			// By name, if exactly one token has it.
			var match []*store.APIToken
			if err := tx.APITokens(func(t *store.APIToken) error {
				if t.Name == ref {
					match = append(match, t)
				}
				return nil
			}); err != nil {
				return err
			}
			switch len(match) {
			case 0:
				return store.ErrNotFound
			case 1:
				t, err = match[0], nil
			default:
				return errAmbiguous
			}
		}
		if err != nil {
			return err
		}
		gone = t
		return tx.DeleteAPIToken(t.ID)
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, status.Errorf(codes.NotFound, "no API token with id or name %q", ref)
	case errors.Is(err, errAmbiguous):
		return nil, status.Errorf(codes.FailedPrecondition, "several API tokens are named %q: give the id (plumbctl apitoken list)", ref)
	case err != nil:
		return nil, status.Errorf(codes.Unavailable, "revoke token: %v", err)
	}
	s.a.logger.Warn("API token revoked", "id", gone.ID, "name", gone.Name, "by", callerName(ctx))
	return &plumbv1.RevokeAPITokenResponse{Revoked: apiTokenProto(gone)}, nil
}

// PruneJoinTokens deletes join tokens that expired, and returns how many.
func (a *Authority) PruneJoinTokens(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := a.st.Update(ctx, func(tx store.Tx) error {
		n = 0
		var expired []string
		if err := tx.JoinTokens(func(t *store.JoinToken) error {
			if now.UnixNano() >= t.Expires {
				expired = append(expired, t.ID)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, id := range expired {
			if err := tx.DeleteJoinToken(id); err != nil {
				return err
			}
		}
		n = len(expired)
		return nil
	})
	return n, err
}
