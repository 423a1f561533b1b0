package query

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/auth"
	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
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
// order, a page at a time: at most page_size facts and about
// limits.MaxListFactsPageBytes, so no call holds a big host in memory.
// Pages are read in separate transactions; a fact changed while a client
// pages shows its value at the time its page was read.
func (s *Server) ListFacts(ctx context.Context, req *plumbv1.ListFactsRequest) (*plumbv1.ListFactsResponse, error) {
	if req.GetHostId() == "" {
		return nil, invalid("host_id is required")
	}
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = min(limits.DefaultListFactsPage, s.limits.MaxListFactsPage)
	case size > s.limits.MaxListFactsPage:
		return nil, s.lm.Refuse(codes.InvalidArgument, limits.ListFactsPageSize, "page_size %d, at most %d", size, s.limits.MaxListFactsPage)
	}
	after, err := decodePageToken(req.GetPageToken())
	if err != nil {
		return nil, invalid(err.Error())
	}
	maxBytes := min(limits.MaxListFactsPageBytes, s.limits.MaxSendMsgBytes/2)
	resp := &plumbv1.ListFactsResponse{}
	bytes := 0
	var last *plumbv1.Fact
	err = s.view(ctx, func(tx store.ReadTx) error {
		if err := hostExists(tx, req.GetHostId()); err != nil {
			return err
		}
		err := tx.FactsAfter(req.GetHostId(), req.GetKind(), after, func(f *plumbv1.Fact) error {
			n := proto.Size(f)
			if len(resp.Facts) >= size || (len(resp.Facts) > 0 && bytes+n > maxBytes) {
				resp.NextPageToken = encodePageToken(fact.KeyOf(last))
				return errPageFull
			}
			resp.Facts = append(resp.Facts, s.redactFact(ctx, f))
			bytes += n
			last = f
			return nil
		})
		if errors.Is(err, errPageFull) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// errPageFull stops a page's scan.
var errPageFull = errors.New("page full")

// A page token is the last key of the page before, encoded; opaque to
// clients.
func encodePageToken(k fact.Key) string {
	return base64.RawURLEncoding.EncodeToString(k.Encode())
}

func decodePageToken(tok string) (*fact.Key, error) {
	if tok == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 2 || len(b) > 1+limits.MaxKeyBytes {
		return nil, errors.New("page_token is not one this collector issued")
	}
	k, err := fact.DecodeKey(b)
	if err != nil {
		return nil, errors.New("page_token is not one this collector issued")
	}
	return &k, nil
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
