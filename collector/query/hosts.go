package query

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/auth"
	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/collector/page"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// ListHosts lists the hosts the collector knows that pass the request's
// filters, in id order, a page at a time.
func (s *Server) ListHosts(ctx context.Context, req *plumbv1.ListHostsRequest) (*plumbv1.ListHostsResponse, error) {
	size, err := s.pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	filter, err := parseHostFilter(req)
	if err != nil {
		return nil, invalid(err.Error())
	}
	after, fp, err := decodeToken(page.Hosts, req)
	if err != nil {
		return nil, err
	}
	if after != nil && (len(after) == 0 || len(after) > limits.MaxHostIDBytes) {
		return nil, invalid(page.ErrToken.Error() + ": not a position of a host")
	}
	b := page.NewBuilder[*plumbv1.Host](size, s.pageBytes(), 0)
	err = s.view(ctx, func(tx store.ReadTx) error {
		return page.Done(tx.HostsAfter(string(after), func(h *store.Host) error {
			match, err := s.hostMatches(tx, h, filter)
			if err != nil || !match {
				return errOr(err, b.Offer([]byte(h.ID), nil, false))
			}
			hp := s.hostProto(h)
			if id, err := tx.Identity(h.ID); err == nil {
				hp.Identity = auth.Identity(id)
			} else if !isNotFound(err) {
				return err
			}
			counts, err := tx.OpenDriftCounts(h.ID)
			if err != nil {
				return err
			}
			hp.OpenDriftCounts = counts
			return b.Offer([]byte(h.ID), hp, true)
		}))
	})
	if err != nil {
		return nil, err
	}
	return &plumbv1.ListHostsResponse{Hosts: b.Items(), NextPageToken: page.Encode(page.Hosts, fp, b.Next())}, nil
}

// errOr returns err if it is set, else next.
func errOr(err, next error) error {
	if err != nil {
		return err
	}
	return next
}

// hostMatches reports whether h passes a ListHosts filter.
func (s *Server) hostMatches(tx store.ReadTx, h *store.Host, f hostFilter) (bool, error) {
	if !f.ids.match(h.ID) || !f.labels.match(h.Labels) {
		return false, nil
	}
	switch f.state {
	case plumbv1.HostState_HOST_STATE_CONNECTED:
		return s.hostConnected(h), nil
	case plumbv1.HostState_HOST_STATE_DISCONNECTED:
		return !s.hostConnected(h), nil
	case plumbv1.HostState_HOST_STATE_STALE:
		it, err := tx.Drift(h.ID, fact.Key{Kind: plumbv1.FactKind_FACT_KIND_HEALTH, ID: drift.HealthReporting})
		if isNotFound(err) {
			return false, nil
		}
		return err == nil && it.GetStatus() == plumbv1.DriftStatus_DRIFT_STATUS_OPEN, err
	}
	return true, nil
}

func (s *Server) hostProto(h *store.Host) *plumbv1.Host {
	return &plumbv1.Host{
		HostId:           h.ID,
		Info:             h.Info,
		Labels:           h.Labels,
		FactCount:        h.FactCount,
		AppliedSeq:       h.AppliedSeq,
		SetDigest:        h.Digest.Sum(),
		Connected:        s.hostConnected(h),
		HasBaseline:      h.HasBaseline,
		OpenDrift:        h.OpenDrift,
		LastSeenUnixNano: h.LastSeen,
		Coverage:         h.Coverage,
	}
}

// ListFacts lists one host's current facts, optionally of one kind and
// keys matching a glob, in key order, a page at a time: at most page_size
// facts and about limits.MaxListFactsPageBytes, so no call holds a big
// host in memory. Pages are read in separate transactions; a fact changed
// while a client pages shows its value at the time its page was read.
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
	if err := checkKind(req.GetKind()); err != nil {
		return nil, invalid(err.Error())
	}
	if req.GetAtUnixNano() < 0 {
		return nil, invalid("at_unix_nano: want 0 (now) or a time")
	}
	keys, err := parseGlob("key_glob", req.GetKeyGlob(), maxKeyGlobBytes)
	if err != nil {
		return nil, invalid(err.Error())
	}
	raw, fp, err := decodeToken(page.Facts, req)
	if err != nil {
		return nil, err
	}
	after, err := decodeFactKey(raw)
	if err != nil {
		return nil, invalidToken(err)
	}
	maxBytes := min(limits.MaxListFactsPageBytes, s.limits.MaxSendMsgBytes/2)
	b := page.NewBuilder[*plumbv1.Fact](size, maxBytes, max(page.MaxScan, size))
	err = s.view(ctx, func(tx store.ReadTx) error {
		if err := hostExists(tx, req.GetHostId()); err != nil {
			return err
		}
		offer := func(f *plumbv1.Fact) error {
			return b.Offer(fact.KeyOf(f).Encode(), f, keys.matchKey(f.GetKey()))
		}
		if at := req.GetAtUnixNano(); at != 0 {
			return page.Done(factsAt(tx, req.GetHostId(), req.GetKind(), at, after, offer))
		}
		return page.Done(tx.FactsAfter(req.GetHostId(), req.GetKind(), after, offer))
	})
	if err != nil {
		return nil, err
	}
	facts := b.Items()
	for i, f := range facts {
		facts[i] = s.redactFact(ctx, f)
	}
	return &plumbv1.ListFactsResponse{Facts: facts, NextPageToken: page.Encode(page.Facts, fp, b.Next())}, nil
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
