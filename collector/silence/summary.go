package silence

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// Bounds of one summary.
const (
	// summaryList bounds the hosts and the items a summary lists.
	summaryList = 100
	// summaryTrack bounds the distinct items and hosts counted one by one;
	// past it, events are still counted in the total.
	summaryTrack = 10000
	// summaryBatch is how many events one read of the log returns.
	summaryBatch = 512
	// clockSlack covers events whose seq order and time order disagree
	// (stamped before a commit that lands after another's).
	clockSlack = time.Minute
)

// Run, until ctx ends, starts window occurrences (stores them, so that
// they are listed and summarized), summarizes silences that have ended,
// and forgets old ended ones. Store errors are logged and retried at the
// next tick.
func (b *Book) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b.tick(ctx)
		t.Reset(b.opts.Tick)
	}
}

func (b *Book) tick(ctx context.Context) {
	now := b.opts.Now()
	if b.opts.Follow {
		if err := b.Reload(ctx); err != nil && ctx.Err() == nil {
			b.opts.Logger.Warn("silence: reloading silences other collectors wrote failed", "err", err)
		}
	}
	if err := b.startWindows(ctx, now); err != nil && ctx.Err() == nil {
		b.opts.Logger.Warn("silence: storing a maintenance window occurrence failed", "err", err)
	}
	for _, s := range b.snapshot() {
		if s.Summarized || now.UnixNano() < s.End()+int64(b.opts.Grace) {
			continue
		}
		if err := b.summarize(ctx, s.ID, now); err != nil && ctx.Err() == nil {
			b.opts.Logger.Warn("silence: summarizing an ended silence failed", "silence", s.ID, "err", err)
		}
	}
	if err := b.prune(ctx, now); err != nil && ctx.Err() == nil {
		b.opts.Logger.Warn("silence: pruning ended silences failed", "err", err)
	}
}

// startWindows stores the occurrence in force of each window, once.
func (b *Book) startWindows(ctx context.Context, now time.Time) error {
	var errs []error
	for _, w := range b.opts.Windows {
		start, ok := w.occurrenceAt(now)
		if !ok {
			continue
		}
		o := w.occurrence(start, now)
		b.mu.RLock()
		have := slices.ContainsFunc(b.list, func(s *store.Silence) bool { return s.ID == o.ID })
		b.mu.RUnlock()
		if have {
			continue
		}
		err := b.st.Update(ctx, func(tx store.Tx) error {
			if _, err := tx.Silence(o.ID); err == nil {
				return nil
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return tx.PutSilence(o)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("window %q: %w", w.Name, err))
			continue
		}
		b.replace(o)
		b.opts.Logger.Info("maintenance window started", "window", w.Name, "silence", o.ID,
			"ends", time.Unix(0, o.EndsAt).UTC(), "matcher", w.Matcher.String())
	}
	return errors.Join(errs...)
}

// summarize marks silence id summarized and, in the same transaction,
// appends the event that names what it held back. The log is read first,
// in a read transaction, so that a long silence's scan does not hold up
// ingest's writes; it ended more than Grace ago, so nothing stamped
// inside it is still to come. A window occurrence that held nothing back
// is marked without an event: a quiet weekly window does not page anyone.
func (b *Book) summarize(ctx context.Context, id string, now time.Time) error {
	var sum *plumbv1.SilenceSummary
	err := b.st.View(ctx, func(tx store.ReadTx) error {
		s, err := tx.Silence(id)
		if err != nil {
			return err
		}
		sum, err = Summarize(tx, s)
		return err
	})
	if err != nil {
		return err
	}
	var (
		done     *store.Silence
		appended bool
	)
	err = b.st.Update(ctx, func(tx store.Tx) error {
		done, appended = nil, false // Update may run fn again
		s, err := tx.Silence(id)
		if err != nil {
			return err
		}
		if s.Summarized {
			done = s
			return nil
		}
		c := *s
		c.Summarized = true
		if err := tx.PutSilence(&c); err != nil {
			return err
		}
		done = &c
		if c.Window != "" && sum.GetEvents() == 0 {
			return nil
		}
		ev := &plumbv1.DriftEvent{
			Id:             "silence-ended-" + c.ID,
			Type:           plumbv1.DriftEventType_DRIFT_EVENT_TYPE_SILENCE_ENDED,
			AtUnixNano:     now.UnixNano(),
			SilenceSummary: proto.CloneOf(sum),
		}
		ev.SilenceSummary.Silence = ToProto(&c, now)
		appended = true
		return tx.AppendEvent(ev)
	})
	if err != nil {
		return err
	}
	b.replace(done)
	if appended {
		b.opts.OnCommit()
	}
	b.opts.Logger.Info("silence ended", "silence", done.ID, "window", done.Window, "created_by", done.CreatedBy,
		"expired_by", done.ExpiredBy, "held_events", sum.GetEvents(), "summary_sent", appended)
	return nil
}

// Summarize counts what s held back: the drift events in the log stamped
// inside its window whose host and fact its matcher matches (summary
// events aside), by host and by item.
func Summarize(tx store.ReadTx, s *store.Silence) (*plumbv1.SilenceSummary, error) {
	m := matcherOf(s)
	end := s.End()
	after, err := seqBefore(tx, s.StartsAt-int64(clockSlack))
	if err != nil {
		return nil, err
	}
	sum := &plumbv1.SilenceSummary{}
	hosts := map[string]*plumbv1.SilenceHostCount{}
	items := map[string]*plumbv1.SilencedItem{}
	labels := map[string]map[string]string{}
	labelsOf := func(host string) map[string]string {
		if l, ok := labels[host]; ok || !m.needsLabels() {
			return l
		}
		if h, err := tx.Host(host); err == nil {
			labels[host] = h.Labels
		} else {
			labels[host] = nil
		}
		return labels[host]
	}
	for {
		evs, err := tx.EventsAfter(after, summaryBatch)
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			after = ev.GetSeq()
			at := ev.GetAtUnixNano()
			if at >= end+int64(clockSlack) {
				return finish(sum, hosts, items), nil
			}
			it := ev.GetItem()
			if ev.GetType() == plumbv1.DriftEventType_DRIFT_EVENT_TYPE_SILENCE_ENDED || it == nil || !s.ActiveAt(at) {
				continue
			}
			if len(labels) > summaryTrack {
				clear(labels)
			}
			if !m.Match(it.GetHostId(), labelsOf(it.GetHostId()), it.GetKind(), it.GetKey()) {
				continue
			}
			sum.Events++
			h := hosts[it.GetHostId()]
			if h == nil && len(hosts) < summaryTrack {
				h = &plumbv1.SilenceHostCount{HostId: it.GetHostId()}
				hosts[it.GetHostId()] = h
			}
			if h != nil {
				h.Events++
			} else {
				sum.Truncated = true
			}
			held := items[it.GetId()]
			if held == nil && len(items) < summaryTrack {
				held = &plumbv1.SilencedItem{Id: it.GetId(), HostId: it.GetHostId(), Kind: it.GetKind(), Key: it.GetKey()}
				items[it.GetId()] = held
			}
			if held == nil {
				sum.Truncated = true
				continue
			}
			held.Events++
			held.Severity = it.GetSeverity()
			held.LastEventType = ev.GetType()
		}
	}
	return finish(sum, hosts, items), nil
}

// finish orders and bounds the lists: hosts by most events, items by
// most severe, then host and key.
func finish(sum *plumbv1.SilenceSummary, hosts map[string]*plumbv1.SilenceHostCount, items map[string]*plumbv1.SilencedItem) *plumbv1.SilenceSummary {
	sum.Items = uint64(len(items))
	for _, h := range hosts {
		sum.Hosts = append(sum.Hosts, h)
	}
	slices.SortFunc(sum.Hosts, func(a, b *plumbv1.SilenceHostCount) int {
		return cmp.Or(cmp.Compare(b.GetEvents(), a.GetEvents()), cmp.Compare(a.GetHostId(), b.GetHostId()))
	})
	for _, it := range items {
		sum.Held = append(sum.Held, it)
	}
	slices.SortFunc(sum.Held, func(a, b *plumbv1.SilencedItem) int {
		return cmp.Or(cmp.Compare(b.GetSeverity(), a.GetSeverity()), cmp.Compare(a.GetHostId(), b.GetHostId()),
			cmp.Compare(a.GetKind(), b.GetKind()), cmp.Compare(string(a.GetKey()), string(b.GetKey())), cmp.Compare(a.GetId(), b.GetId()))
	})
	if len(sum.Hosts) > summaryList {
		sum.Hosts, sum.Truncated = sum.Hosts[:summaryList], true
	}
	if len(sum.Held) > summaryList {
		sum.Held, sum.Truncated = sum.Held[:summaryList], true
	}
	return sum
}

// seqBefore finds, by binary search on the log, a seq after which every
// event stamped at or after t lies (taking the log's time order to follow
// its seq order, which clockSlack covers).
func seqBefore(tx store.ReadTx, t int64) (uint64, error) {
	lo, hi := uint64(0), uint64(0)
	last, err := tx.LastEventSeq()
	if err != nil {
		return 0, err
	}
	hi = last
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		evs, err := tx.EventsAfter(mid-1, 1)
		if err != nil {
			return 0, err
		}
		switch {
		case len(evs) == 0 || evs[0].GetAtUnixNano() >= t:
			hi = mid - 1
		default:
			lo = min(evs[0].GetSeq(), hi)
		}
	}
	return lo, nil
}

// prune forgets summarized silences that ended more than Retention ago,
// and the oldest past MaxKept.
func (b *Book) prune(ctx context.Context, now time.Time) error {
	cutoff := now.Add(-b.opts.Retention).UnixNano()
	var ended []*store.Silence
	for _, s := range b.snapshot() {
		if s.Summarized {
			ended = append(ended, s)
		}
	}
	slices.SortFunc(ended, func(a, b *store.Silence) int { return cmp.Compare(a.End(), b.End()) })
	var drop []string
	for i, s := range ended {
		if s.End() < cutoff || len(ended)-i > b.opts.MaxKept {
			drop = append(drop, s.ID)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	err := b.st.Update(ctx, func(tx store.Tx) error {
		for _, id := range drop {
			if err := tx.DeleteSilence(id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	gone := make(map[string]bool, len(drop))
	for _, id := range drop {
		gone[id] = true
	}
	b.mu.Lock()
	b.list = slices.DeleteFunc(b.list, func(s *store.Silence) bool { return gone[s.ID] })
	b.mu.Unlock()
	b.opts.Logger.Info("forgot ended silences", "silences", len(drop))
	return nil
}
