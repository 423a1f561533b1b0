package query

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/driftstats"
	"github.com/plumb-dev/plumb/collector/history"
	"github.com/plumb-dev/plumb/collector/page"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// historyBatch is how many events and audit records ListHistory reads
// from each log at a time while it merges them.
const historyBatch = 256

// ListHistory merges the drift event log and the audit log in time order
// (each log is in commit order). A token is the two logs' positions.
func (s *Server) ListHistory(ctx context.Context, req *plumbv1.ListHistoryRequest) (*plumbv1.ListHistoryResponse, error) {
	size, err := s.pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	since, until := req.GetSinceUnixNano(), req.GetUntilUnixNano()
	if since < 0 || until < 0 || (until != 0 && until < since) {
		return nil, invalid("since_unix_nano and until_unix_nano: want 0 <= since <= until (until 0: unbounded)")
	}
	raw, fp, err := decodeToken(page.History, req)
	if err != nil {
		return nil, err
	}
	var evAfter, auAfter uint64
	if raw != nil {
		if len(raw) != 16 {
			return nil, invalid(fmt.Sprintf("%v: not a position in the history", page.ErrToken))
		}
		evAfter, auAfter = binary.BigEndian.Uint64(raw), binary.BigEndian.Uint64(raw[8:])
	}
	host := req.GetHostId()
	b := page.NewBuilder[*plumbv1.HistoryEntry](size, s.pageBytes(), page.MaxScan)
	err = s.view(ctx, func(tx store.ReadTx) error {
		if host != "" {
			if err := hostExists(tx, host); err != nil {
				return err
			}
		}
		var evs []*plumbv1.DriftEvent
		var aus []*store.AuditRecord
		evDone, auDone := false, false
		for {
			if len(evs) == 0 && !evDone {
				var err error
				if evs, err = tx.EventsAfter(evAfter, historyBatch); err != nil {
					return err
				}
				evDone = len(evs) == 0
			}
			if len(aus) == 0 && !auDone {
				var err error
				if aus, err = tx.AuditAfter(auAfter, historyBatch); err != nil {
					return err
				}
				auDone = len(aus) == 0
			}
			var e *plumbv1.HistoryEntry
			switch {
			case len(evs) == 0 && len(aus) == 0:
				return nil
			case len(aus) == 0 || (len(evs) > 0 && evs[0].GetAtUnixNano() <= aus[0].At):
				e = eventEntry(evs[0])
				evAfter = evs[0].GetSeq()
				evs = evs[1:]
			default:
				e = auditEntry(aus[0])
				auAfter = aus[0].Seq
				aus = aus[1:]
			}
			at := e.GetAtUnixNano()
			match := (host == "" || e.GetHostId() == host) && at >= since && (until == 0 || at < until)
			pos := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, evAfter), auAfter)
			if match && e.Event != nil {
				e.Event = s.redactEvent(ctx, e.Event)
			}
			if err := b.Offer(pos, e, match); err != nil {
				return page.Done(err)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return &plumbv1.ListHistoryResponse{Entries: b.Items(), NextPageToken: page.Encode(page.History, fp, b.Next())}, nil
}

// eventEntry is the history entry of a drift transition.
func eventEntry(ev *plumbv1.DriftEvent) *plumbv1.HistoryEntry {
	it := ev.GetItem()
	e := &plumbv1.HistoryEntry{
		AtUnixNano: ev.GetAtUnixNano(),
		HostId:     it.GetHostId(),
		Action:     "drift." + strings.ToLower(strings.TrimPrefix(ev.GetType().String(), "DRIFT_EVENT_TYPE_")),
		Target:     it.GetId(),
		Event:      ev,
	}
	switch {
	case ev.GetType() == plumbv1.DriftEventType_DRIFT_EVENT_TYPE_ACCEPTED:
		e.Actor, e.Reason = it.GetAcceptedBy(), it.GetReason()
	case ev.GetType() == plumbv1.DriftEventType_DRIFT_EVENT_TYPE_SILENCE_ENDED:
		sil := ev.GetSilenceSummary().GetSilence()
		e.Actor, e.Target, e.Reason = "collector", sil.GetId(), sil.GetReason()
	case drift.IsHealth(it.GetKind()):
		e.Actor = "collector"
	default:
		e.Actor = "agent"
	}
	return e
}

// auditEntry is the history entry of an operator action.
func auditEntry(r *store.AuditRecord) *plumbv1.HistoryEntry {
	return &plumbv1.HistoryEntry{
		AtUnixNano: r.At, HostId: r.Host, Actor: r.Actor, Action: r.Action, Target: r.Target, Reason: r.Reason,
	}
}

// ListFactChanges lists the facts whose values differ between two times,
// in key order; a token is the last key covered.
func (s *Server) ListFactChanges(ctx context.Context, req *plumbv1.ListFactChangesRequest) (*plumbv1.ListFactChangesResponse, error) {
	if req.GetHostId() == "" {
		return nil, invalid("host_id is required")
	}
	size, err := s.pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	since, until := req.GetSinceUnixNano(), req.GetUntilUnixNano()
	if since <= 0 || until < 0 || (until != 0 && until < since) {
		return nil, invalid("since_unix_nano is required, and until_unix_nano (0: now) must not be before it")
	}
	raw, fp, err := decodeToken(page.FactChanges, req)
	if err != nil {
		return nil, err
	}
	after, err := decodeFactKey(raw)
	if err != nil {
		return nil, invalidToken(err)
	}
	b := page.NewBuilder[*plumbv1.FactChange](size, s.pageBytes(), page.MaxScan)
	err = s.view(ctx, func(tx store.ReadTx) error {
		if err := hostExists(tx, req.GetHostId()); err != nil {
			return err
		}
		changes, err := history.Between(tx, req.GetHostId(), since, until)
		if err != nil {
			return historyErr(err)
		}
		for _, c := range changes {
			key := c.Key.Encode()
			if after != nil && string(key) <= string(after.Encode()) {
				continue
			}
			fc := &plumbv1.FactChange{
				Kind: c.Key.Kind, Key: []byte(c.Key.ID), ChangedUnixNano: c.At,
				Before: s.redactFact(ctx, c.Before), After: s.redactFact(ctx, c.After),
			}
			if err := b.Offer(key, fc, true); err != nil {
				return page.Done(err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &plumbv1.ListFactChangesResponse{Changes: b.Items(), NextPageToken: page.Encode(page.FactChanges, fp, b.Next())}, nil
}

// historyErr maps a reconstruction that would read too much to
// RESOURCE_EXHAUSTED.
func historyErr(err error) error {
	if errors.Is(err, history.ErrTooMuch) {
		return status.Error(codes.ResourceExhausted, err.Error())
	}
	return err
}

// factsAt offers the host's facts of kind at time at, in key order after
// after, to offer: its current facts with the history's changes since at
// undone.
func factsAt(tx store.ReadTx, host string, kind plumbv1.FactKind, at int64, after *fact.Key, offer func(*plumbv1.Fact) error) error {
	undo, err := history.At(tx, host, at)
	if err != nil {
		return historyErr(err)
	}
	var afterKey []byte
	if after != nil {
		afterKey = after.Encode()
	}
	// Facts that exist at at but not now, in key order.
	var gone []*plumbv1.Fact
	for _, k := range undo.Keys(kind) {
		if f := undo[k]; f != nil && (afterKey == nil || string(k.Encode()) > string(afterKey)) {
			gone = append(gone, f)
		}
	}
	flushBefore := func(key []byte) error {
		for len(gone) > 0 && (key == nil || string(fact.KeyOf(gone[0]).Encode()) < string(key)) {
			if err := offer(gone[0]); err != nil {
				return err
			}
			gone = gone[1:]
		}
		return nil
	}
	err = tx.FactsAfter(host, kind, after, func(f *plumbv1.Fact) error {
		k := fact.KeyOf(f)
		key := k.Encode()
		if err := flushBefore(key); err != nil {
			return err
		}
		if old, undone := undo[k]; undone {
			if len(gone) > 0 && fact.KeyOf(gone[0]) == k {
				gone = gone[1:]
			}
			if old == nil {
				return nil // did not exist at at
			}
			f = old
		}
		return offer(f)
	})
	if err != nil {
		return err
	}
	return flushBefore(nil)
}

// defaultStatsWindow is GetDriftStats' window when the request names none.
const defaultStatsWindow = 7 * 24 * time.Hour

// GetDriftStats measures drift per host and per group (driftstats).
func (s *Server) GetDriftStats(ctx context.Context, req *plumbv1.GetDriftStatsRequest) (*plumbv1.GetDriftStatsResponse, error) {
	groupKey := req.GetGroupLabel()
	if groupKey == "" {
		groupKey = "group"
	}
	if len(groupKey) > 256 {
		return nil, invalid("group_label: longer than 256 bytes")
	}
	now := time.Now()
	if s.eng != nil && s.eng.Now != nil {
		now = s.eng.Now()
	}
	since := now.Add(-defaultStatsWindow)
	if n := req.GetSinceUnixNano(); n != 0 {
		if n < 0 || n >= now.UnixNano() {
			return nil, invalid("since_unix_nano: want a time before now")
		}
		since = time.Unix(0, n)
	}
	var f *driftstats.Fleet
	err := s.view(ctx, func(tx store.ReadTx) error {
		if req.GetHostId() != "" {
			if err := hostExists(tx, req.GetHostId()); err != nil {
				return err
			}
		}
		var err error
		f, err = driftstats.Compute(tx, req.GetHostId(), groupKey, since, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	window := now.Sub(since)
	msg := func(id string, st *driftstats.Stats) *plumbv1.DriftStats {
		return &plumbv1.DriftStats{
			Id: id, Hosts: uint32(st.Hosts), Score: st.Score, Open: st.Open,
			Transitions: st.Transitions, TransitionsPerDay: st.PerDay(window),
			Resolved: st.Resolved, MeanTimeToResolveSeconds: st.MTTR().Seconds(),
		}
	}
	resp := &plumbv1.GetDriftStatsResponse{SinceUnixNano: since.UnixNano(), UntilUnixNano: now.UnixNano(), Truncated: f.Truncated}
	ids := make([]string, 0, len(f.Hosts))
	for id := range f.Hosts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		resp.Hosts = append(resp.Hosts, msg(id, f.Hosts[id]))
	}
	for _, g := range f.GroupIDs() {
		resp.Groups = append(resp.Groups, msg(g, f.Groups[g]))
	}
	return resp, nil
}
