package query

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/auth"
	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/golden"
	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/collector/store"
)

const (
	// regroupBatch is how many members one transaction re-evaluates after
	// a promotion, so that ingest is never held back for a whole fleet.
	regroupBatch = 16
	// maxExceptions is the most exceptions GetGroupBaseline returns.
	maxExceptions = 1000
	// maxReasonBytes bounds a promotion's reason.
	maxReasonBytes = 4096
)

func checkGroup(g string) error {
	if g == "" || len(g) > limits.MaxLabelValueBytes || !utf8.ValidString(g) {
		return invalid(fmt.Sprintf("group: 1 to %d bytes of UTF-8 (the value of hosts' %q label)", limits.MaxLabelValueBytes, golden.GroupLabel))
	}
	return nil
}

// PromoteBaseline makes a host's current facts (within a selection) the
// baseline of a group, then re-evaluates every member's drift against it,
// in batches of transactions.
func (s *Server) PromoteBaseline(ctx context.Context, req *plumbv1.PromoteBaselineRequest) (*plumbv1.PromoteBaselineResponse, error) {
	switch {
	case req.GetHostId() == "":
		return nil, invalid("host_id is required")
	case req.GetReason() == "":
		return nil, invalid("reason is required: say why this host's state is the group's baseline")
	case len(req.GetReason()) > maxReasonBytes || !utf8.ValidString(req.GetReason()):
		return nil, invalid(fmt.Sprintf("reason: at most %d bytes of UTF-8", maxReasonBytes))
	}
	if err := checkGroup(req.GetGroup()); err != nil {
		return nil, err
	}
	if req.GetKind() != plumbv1.FactKind_FACT_KIND_UNSPECIFIED {
		if err := checkKind(req.GetKind()); err != nil {
			return nil, invalid(err.Error())
		}
		if drift.IsHealth(req.GetKind()) {
			return nil, invalid("health facts are the collector's, never part of a baseline")
		}
	}
	keys, err := parseGlob("key_glob", req.GetKeyGlob(), maxKeyGlobBytes)
	if err != nil {
		return nil, invalid(err.Error())
	}
	sel := store.Selection{Kind: int32(req.GetKind()), Key: string(keys)}
	by := "unknown"
	if c, ok := auth.CallerFrom(ctx); ok {
		by = c.Name
	}
	group := req.GetGroup()
	var gb *store.GroupBaseline
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if err := hostExists(tx, req.GetHostId()); err != nil {
			return err
		}
		var err error
		gb, err = s.eng.Promote(tx, req.GetHostId(), group, sel, by, req.GetReason())
		return err
	})
	if errors.Is(err, drift.ErrNoSnapshot) {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	if err != nil {
		return nil, toStatus(err)
	}

	var members []string
	err = s.st.View(ctx, func(tx store.ReadTx) error {
		return tx.Hosts(func(h *store.Host) error {
			if h.Labels[golden.GroupLabel] == group {
				members = append(members, h.ID)
			}
			return nil
		})
	})
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &plumbv1.PromoteBaselineResponse{Members: uint32(len(members))}
	for i := 0; i < len(members); i += regroupBatch {
		batch := members[i:min(i+regroupBatch, len(members))]
		var evs []*plumbv1.DriftEvent
		err := s.st.Update(ctx, func(tx store.Tx) error {
			evs = evs[:0]
			for _, m := range batch {
				e, err := s.eng.Regroup(tx, m, group, gb.Generation, &sel)
				if err != nil {
					return err
				}
				evs = append(evs, e...)
			}
			return nil
		})
		if err != nil {
			// The baseline stands; members not re-evaluated yet are
			// held to it as their facts next change.
			return nil, toStatus(fmt.Errorf("promoted, but re-evaluating members %d to %d of %d: %w", i+1, i+len(batch), len(members), err))
		}
		for _, ev := range evs {
			switch ev.GetType() {
			case plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED:
				resp.Opened++
			case plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED:
				resp.Resolved++
			case plumbv1.DriftEventType_DRIFT_EVENT_TYPE_UPDATED:
				resp.Updated++
			}
		}
		if n, ok := s.events.(notifier); ok && len(evs) > 0 {
			n.Notify()
		}
	}
	resp.Baseline = groupBaselineProto(gb, len(members))
	return resp, nil
}

// GetGroupBaseline describes a group's baseline and its exceptions.
func (s *Server) GetGroupBaseline(ctx context.Context, req *plumbv1.GetGroupBaselineRequest) (*plumbv1.GetGroupBaselineResponse, error) {
	if err := checkGroup(req.GetGroup()); err != nil {
		return nil, err
	}
	var out *plumbv1.GroupBaseline
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		gb, err := tx.GroupBaseline(req.GetGroup())
		if err != nil {
			return err
		}
		members := 0
		err = tx.Hosts(func(h *store.Host) error {
			if h.Labels[golden.GroupLabel] == gb.Group {
				members++
			}
			return nil
		})
		if err != nil {
			return err
		}
		out = groupBaselineProto(gb, members)
		errFull := errors.New("full")
		err = tx.GroupExceptions(gb.Group, func(e *store.GroupException) error {
			if len(out.Exceptions) == maxExceptions {
				out.ExceptionsTruncated = true
				return errFull
			}
			out.Exceptions = append(out.Exceptions, &plumbv1.GroupException{
				HostId: e.Host, Kind: e.Key.Kind, Key: []byte(e.Key.ID),
				AcceptedBy: e.By, Reason: e.Reason, AcceptedUnixNano: e.At,
			})
			return nil
		})
		if errors.Is(err, errFull) {
			err = nil
		}
		return err
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &plumbv1.GetGroupBaselineResponse{Baseline: out}, nil
}

func groupBaselineProto(gb *store.GroupBaseline, members int) *plumbv1.GroupBaseline {
	out := &plumbv1.GroupBaseline{
		Group: gb.Group, SourceHostId: gb.SourceHost, PromotedBy: gb.By, Reason: gb.Reason,
		PromotedUnixNano: gb.At, Generation: gb.Generation, FactCount: gb.FactCount, Members: uint32(members),
	}
	for _, sel := range gb.Selections {
		out.Selections = append(out.Selections, &plumbv1.BaselineSelection{Kind: plumbv1.FactKind(sel.Kind), KeyGlob: sel.Key})
	}
	return out
}
