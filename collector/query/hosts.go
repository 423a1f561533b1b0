package query

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/auth"
	"github.com/plumb-dev/plumb/collector/store"
)

// ListHosts lists every host the collector knows, in id order.
func (s *Server) ListHosts(ctx context.Context, _ *plumbv1.ListHostsRequest) (*plumbv1.ListHostsResponse, error) {
	resp := &plumbv1.ListHostsResponse{}
	err := s.view(ctx, func(tx store.ReadTx) error {
		return tx.Hosts(func(h *store.Host) error {
			hp := s.hostProto(h)
			if id, err := tx.Identity(h.ID); err == nil {
				hp.Identity = auth.Identity(id)
			} else if !isNotFound(err) {
				return err
			}
			resp.Hosts = append(resp.Hosts, hp)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Server) hostProto(h *store.Host) *plumbv1.Host {
	return &plumbv1.Host{
		HostId:           h.ID,
		Info:             h.Info,
		Labels:           h.Labels,
		FactCount:        h.FactCount,
		AppliedSeq:       h.AppliedSeq,
		SetDigest:        h.Digest.Sum(),
		Connected:        s.connected(h.ID),
		HasBaseline:      h.HasBaseline,
		OpenDrift:        h.OpenDrift,
		LastSeenUnixNano: h.LastSeen,
		Coverage:         h.Coverage,
	}
}

// ListFacts lists one host's current facts, optionally of one kind, in key
// order.
func (s *Server) ListFacts(ctx context.Context, req *plumbv1.ListFactsRequest) (*plumbv1.ListFactsResponse, error) {
	if req.GetHostId() == "" {
		return nil, invalid("host_id is required")
	}
	resp := &plumbv1.ListFactsResponse{}
	err := s.view(ctx, func(tx store.ReadTx) error {
		if err := hostExists(tx, req.GetHostId()); err != nil {
			return err
		}
		return tx.Facts(req.GetHostId(), req.GetKind(), func(f *plumbv1.Fact) error {
			resp.Facts = append(resp.Facts, s.redactFact(ctx, f))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// hostExists returns a NotFound status naming the host if it is unknown.
func hostExists(tx store.ReadTx, id string) error {
	if _, err := tx.Host(id); err != nil {
		if isNotFound(err) {
			return status.Error(codes.NotFound, fmt.Sprintf("host %q not found", id))
		}
		return err
	}
	return nil
}
