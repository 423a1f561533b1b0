// Package reporting owns the collector's staleness check: it raises the
// "reporting" health item of a host that has neither a live stream nor
// reported for longer than the configured stale_after, and resolves it
// when the host streams again (ingest resolves it at the host's hello;
// the check resolves what it finds live). It judges hosts only against
// what the store and the live streams say, inside the transaction that
// writes the item, so a host that reports meanwhile is never flagged.
package reporting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// HealthRecorder raises and clears a host's health items inside a
// transaction (drift.Engine.Health).
type HealthRecorder interface {
	Health(tx store.Tx, h *store.Host, condition string, open bool, detail string) ([]*plumbv1.DriftEvent, error)
}

// Options configure New.
type Options struct {
	// StaleAfter is how long a host may go without a live stream or a
	// report; 0 turns the check off.
	StaleAfter time.Duration
	// Connected reports whether a host has a live stream
	// (ingest.Server.Connected); nil means none has.
	Connected func(host string) bool
	// Notify wakes the notifiers after a commit that appended events.
	Notify func()
	// Heartbeat says other collectors share the store: a host streaming
	// to this one is live only here (Connected), and an idle stream
	// writes nothing, so each check also stamps LastSeen of the hosts
	// live here that were not stamped for an Interval. Every collector
	// then judges a host by LastSeen alone, and none flags one that
	// streams, quietly, to another.
	Heartbeat bool
	// Now is the collector clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Checker runs the check. Its methods are for one goroutine.
type Checker struct {
	st   store.Store
	rec  HealthRecorder
	opts Options
	// start is when this collector started: no host is judged stale
	// before StaleAfter has passed since, so that a restart does not
	// flag every host that has not reconnected yet.
	start int64
	// live is when each host was last seen with a live stream, by this
	// checker: an idle stream sends nothing, so LastSeen alone would
	// flag a host the moment its long, quiet stream ends.
	live map[string]int64
}

// New returns a checker whose grace period starts now.
func New(st store.Store, rec HealthRecorder, opts Options) *Checker {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Connected == nil {
		opts.Connected = func(string) bool { return false }
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Checker{st: st, rec: rec, opts: opts, start: opts.Now().UnixNano(), live: map[string]int64{}}
}

// Interval is how often Run checks: a quarter of StaleAfter, within 1s
// to 1m, so a host is flagged at most a quarter late.
func (c *Checker) Interval() time.Duration {
	if c.opts.StaleAfter <= 0 {
		return time.Minute // heartbeats only
	}
	return min(max(c.opts.StaleAfter/4, time.Second), time.Minute)
}

// Run checks every Interval until ctx ends. With StaleAfter 0 it only
// stamps heartbeats (Options.Heartbeat), or waits for ctx.
func (c *Checker) Run(ctx context.Context) error {
	if c.opts.StaleAfter <= 0 && !c.opts.Heartbeat {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(c.Interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := c.Check(ctx); err != nil && ctx.Err() == nil {
				c.opts.Logger.Warn("checking hosts' last reports failed", "err", err)
			}
		}
	}
}

var reportingKey = fact.Key{Kind: plumbv1.FactKind_FACT_KIND_HEALTH, ID: drift.HealthReporting}

// Check judges every host once and returns how many events it appended.
// It reads first and writes only for hosts whose item must move, judging
// each again inside the writing transaction.
func (c *Checker) Check(ctx context.Context) (int, error) {
	now := c.opts.Now().UnixNano()
	var moves, touch []string
	seen := map[string]bool{}
	err := c.st.View(ctx, func(tx store.ReadTx) error {
		var hosts []*store.Host
		if err := tx.Hosts(func(h *store.Host) error { hosts = append(hosts, h); return nil }); err != nil {
			return err
		}
		for _, h := range hosts {
			seen[h.ID] = true
			v, _ := c.judge(h, now)
			if c.opts.Heartbeat && c.opts.Connected(h.ID) && now-h.LastSeen >= int64(c.Interval()) {
				touch = append(touch, h.ID)
			}
			if v == keep {
				continue
			}
			it, err := tx.Drift(h.ID, reportingKey)
			if err != nil && !isNotFound(err) {
				return err
			}
			if open := it.GetStatus() == plumbv1.DriftStatus_DRIFT_STATUS_OPEN; open != (v == stale) {
				moves = append(moves, h.ID)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for id := range c.live {
		if !seen[id] {
			delete(c.live, id)
		}
	}
	if len(moves) == 0 && len(touch) == 0 {
		return 0, nil
	}
	events := 0
	err = c.st.Update(ctx, func(tx store.Tx) error {
		events = 0
		if err := c.stamp(tx, touch, now); err != nil {
			return err
		}
		for _, id := range moves {
			h, err := tx.Host(id)
			if err != nil {
				return err
			}
			v, detail := c.judge(h, now)
			if v == keep {
				continue
			}
			evs, err := c.rec.Health(tx, h, drift.HealthReporting, v == stale, detail)
			if err != nil {
				return err
			}
			if len(evs) == 0 {
				continue
			}
			if v == stale {
				c.opts.Logger.Warn("host stopped reporting", "host", h.ID, "detail", detail)
			}
			events += len(evs)
			if err := tx.PutHost(h); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if events > 0 && c.opts.Notify != nil {
		c.opts.Notify()
	}
	return events, nil
}

// stamp sets LastSeen to now for the hosts of ids still live here.
func (c *Checker) stamp(tx store.Tx, ids []string, now int64) error {
	for _, id := range ids {
		h, err := tx.Host(id)
		if isNotFound(err) {
			continue
		} else if err != nil {
			return err
		}
		if !c.opts.Connected(id) || h.LastSeen >= now {
			continue
		}
		h.LastSeen = now
		if err := tx.PutHost(h); err != nil {
			return err
		}
	}
	return nil
}

// verdict is what a check concludes about one host.
type verdict int

const (
	keep  verdict = iota // no judgement: leave the item as it is
	fresh                // reporting: resolve an open item
	stale                // not reporting: open the item
)

// judge concludes about h at now, with the detail of its item: open,
// since when it has not reported; resolved, that it reports again. A
// host that never streamed has nothing to miss; one whose silence began
// before this collector started is not judged stale within StaleAfter of
// the start (nor cleared: an item raised before a restart stays open).
func (c *Checker) judge(h *store.Host, now int64) (verdict, string) {
	if c.opts.StaleAfter <= 0 {
		return keep, "" // the check is off; heartbeats only
	}
	if c.opts.Connected(h.ID) {
		c.live[h.ID] = now
		return fresh, "reporting again"
	}
	if h.LastSeen == 0 {
		return keep, ""
	}
	last := max(h.LastSeen, c.live[h.ID])
	switch {
	case now-last < int64(c.opts.StaleAfter):
		return fresh, "reporting again"
	case now-c.start < int64(c.opts.StaleAfter):
		return keep, ""
	}
	return stale, fmt.Sprintf("no report since %s (stale after %v)", time.Unix(0, last).UTC().Format(time.RFC3339), c.opts.StaleAfter)
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, store.ErrNotFound) }
