package query

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/auth"
	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/page"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// ListDrift lists the drift items that pass the request's filters, of
// one host or of all, in (host, kind, key) order, a page at a time.
func (s *Server) ListDrift(ctx context.Context, req *plumbv1.ListDriftRequest) (*plumbv1.ListDriftResponse, error) {
	size, err := s.pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	filter, err := parseDriftFilter(req)
	if err != nil {
		return nil, invalid(err.Error())
	}
	raw, fp, err := decodeToken(page.Drift, req)
	if err != nil {
		return nil, err
	}
	after, err := decodeDriftPos(raw)
	if err != nil {
		return nil, invalidToken(err)
	}
	b := page.NewBuilder[*plumbv1.DriftItem](size, s.pageBytes(), 0)
	err = s.view(ctx, func(tx store.ReadTx) error {
		if req.GetHostId() != "" {
			if err := hostExists(tx, req.GetHostId()); err != nil {
				return err
			}
		}
		// Items come grouped by host: its labels are read once per host.
		var host string
		var labelsMatch bool
		return page.Done(tx.DriftItemsAfter(req.GetHostId(), filter.kind, after, func(it *plumbv1.DriftItem) error {
			if len(filter.labels) > 0 && it.GetHostId() != host {
				host, labelsMatch = it.GetHostId(), false
				h, err := tx.Host(host)
				if err != nil && !isNotFound(err) {
					return err
				}
				labelsMatch = err == nil && filter.labels.match(h.Labels)
			}
			match := (len(filter.labels) == 0 || labelsMatch) && filter.match(it)
			pos := store.DriftPos{Host: it.GetHostId(), Key: fact.Key{Kind: it.GetKind(), ID: string(it.GetKey())}}
			if !match {
				return b.Offer(encodeDriftPos(pos), nil, false)
			}
			return b.Offer(encodeDriftPos(pos), s.redactItem(ctx, withoutDiff(it)), true)
		}))
	})
	if err != nil {
		return nil, err
	}
	return &plumbv1.ListDriftResponse{Items: b.Items(), NextPageToken: page.Encode(page.Drift, fp, b.Next())}, nil
}

// maxDriftIDBytes bounds a GetDrift id: ids are 32 hex digits.
const maxDriftIDBytes = 64

// errFound stops a search of drift items at the one wanted.
var errFound = errors.New("found")

// GetDrift returns one drift item, open or closed, by id, with its content
// diff. Items are stored by host and fact, so without host_id it searches
// every host's drift; an item a later divergence of its fact replaced is
// no longer here (the event log has it).
func (s *Server) GetDrift(ctx context.Context, req *plumbv1.GetDriftRequest) (*plumbv1.GetDriftResponse, error) {
	id := req.GetId()
	if id == "" || len(id) > maxDriftIDBytes {
		return nil, invalid(fmt.Sprintf("id is required, at most %d bytes", maxDriftIDBytes))
	}
	var found *plumbv1.DriftItem
	err := s.view(ctx, func(tx store.ReadTx) error {
		if req.GetHostId() != "" {
			if err := hostExists(tx, req.GetHostId()); err != nil {
				return err
			}
		}
		err := tx.DriftItems(req.GetHostId(), true, func(it *plumbv1.DriftItem) error {
			if it.GetId() == id {
				found = it
				return errFound
			}
			return nil
		})
		if errors.Is(err, errFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, status.Error(codes.NotFound, fmt.Sprintf("drift item %q not found", id))
	}
	return &plumbv1.GetDriftResponse{Item: s.redactItem(ctx, found)}, nil
}

// withoutDiff returns it without the unified diff of its current fact's
// content change (a copy if it had one), for lists: the state and the
// redacted flag stay, so a caller sees there is a diff to get.
func withoutDiff(it *plumbv1.DriftItem) *plumbv1.DriftItem {
	if it.GetCurrent().GetFile().GetContent().GetUnifiedDiff() == "" {
		return it
	}
	c := proto.CloneOf(it)
	c.GetCurrent().GetFile().GetContent().UnifiedDiff = ""
	return c
}

// AcceptDrift makes the current value of one fact's open drift, or of all
// the host's open drift, the baseline. With an expected value (one fact
// only) it refuses with FailedPrecondition if the fact has moved on.
func (s *Server) AcceptDrift(ctx context.Context, req *plumbv1.AcceptDriftRequest) (*plumbv1.AcceptDriftResponse, error) {
	switch {
	case req.GetHostId() == "":
		return nil, invalid("host_id is required")
	case req.GetReason() == "":
		return nil, invalid("reason is required: say why this drift is accepted")
	case req.GetKind() == plumbv1.FactKind_FACT_KIND_UNSPECIFIED && len(req.GetKey()) > 0:
		return nil, invalid("key given without kind")
	case req.GetKind() == plumbv1.FactKind_FACT_KIND_UNSPECIFIED && req.GetExpected() != nil:
		return nil, invalid("expected needs kind and key: accepting all of a host's drift takes each fact's value as it is")
	}
	var k *fact.Key
	if req.GetKind() != plumbv1.FactKind_FACT_KIND_UNSPECIFIED {
		k = &fact.Key{Kind: req.GetKind(), ID: string(req.GetKey())}
	}
	var want *drift.Expected
	if e := req.GetExpected(); e != nil {
		want = &drift.Expected{Digest: e.GetDigest()}
	}
	// Who accepted is the caller's token, never what the request says.
	by := "unknown"
	if c, ok := auth.CallerFrom(ctx); ok {
		by = c.Name
	}
	var items []*plumbv1.DriftItem
	var events []*plumbv1.DriftEvent
	err := s.st.Update(ctx, func(tx store.Tx) error {
		if err := hostExists(tx, req.GetHostId()); err != nil {
			return err
		}
		if want != nil {
			cur, err := tx.Fact(req.GetHostId(), *k)
			if err != nil && !isNotFound(err) {
				return err
			}
			want = &drift.Expected{Digest: s.unredactExpected(ctx, cur, want.Digest)}
		}
		var err error
		items, events, err = s.eng.Accept(tx, req.GetHostId(), k, want, by, req.GetReason())
		return err
	})
	if err != nil {
		return nil, toStatus(err)
	}
	if n, ok := s.events.(notifier); ok && len(events) > 0 {
		n.Notify()
	}
	for i, it := range items {
		items[i] = s.redactItem(ctx, it)
	}
	return &plumbv1.AcceptDriftResponse{Accepted: items}, nil
}
