package alert

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/plumb-dev/plumb/collector/store"
)

// Several collectors may share one database. Each notifier is then
// delivered by exactly one of them at a time: its worker delivers only
// while it holds the notifier's lease (store.Tx.ClaimLease), named
//
//	notifier/<name>
//
// and held by the Dispatcher's instance id. A lease lasts LeaseTTL from the
// moment before the claiming transaction began; the holder renews it every
// LeaseTTL/3 and, if no renewal succeeds, stops delivering a margin
// (LeaseTTL/5) before it expires by its own clock, so that its last Notify
// has ended before another collector can claim the lease. Every cursor
// commit checks, in its transaction, that the lease is still the worker's
// and unexpired: a stale holder's commit fails and its term ends. A new
// holder resumes from the committed cursor, so a holder that dies between
// a delivery and its commit leaves that batch to be delivered again, with
// the same webhook ids (at least once, as after a restart).
//
// With bbolt only one process opens the database, and the collector passes
// a fixed instance id, so that a restarted collector takes its own lease
// back at once instead of waiting for the dead process's to expire.

// errLeaseLost ends a term: another holder has the lease, or ours expired.
var errLeaseLost = errors.New("notifier lease lost")

func leaseName(notifier string) string { return cursorPrefix + notifier }

// term is one stretch during which a worker holds its notifier's lease.
// ctx ends when the lease is lost, expires unrenewed, or the Dispatcher
// stops.
type term struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when the renewing goroutine has returned
}

// lost ends the term because a commit found the lease gone.
func (t *term) lost() { t.cancel(errLeaseLost) }

// acquire claims the notifier's lease, waiting while another collector
// holds it, and starts renewing it. It returns false when ctx ends first.
func (w *worker) acquire(ctx context.Context) (*term, bool) {
	ttl := w.d.opts.LeaseTTL
	waiting := false
	for {
		start := time.Now()
		ok, holder, err := w.claim(ctx, start)
		switch {
		case err == nil && ok:
			w.bo.Reset()
			w.d.metrics.leaseHeld.WithLabelValues(w.name).Set(1)
			w.log.Info("alert notifier lease acquired", "instance", w.d.opts.Instance)
			tctx, cancel := context.WithCancelCause(ctx)
			t := &term{ctx: tctx, cancel: cancel, done: make(chan struct{})}
			go w.renew(t, start.Add(ttl-leaseMargin(ttl)))
			return t, true
		case err == nil:
			if !waiting {
				w.log.Info("alert notifier delivered by another collector, standing by", "holder", holder)
				waiting = true
			}
			// Poll well within a lease's length, jittered, so that a
			// dead holder's notifier moves on soon after its expiry.
			if !sleep(ctx, time.Duration(float64(ttl/4)*(0.5+rand.Float64()))) {
				return nil, false
			}
		default:
			if ctx.Err() != nil {
				return nil, false
			}
			w.log.Warn("alert notifier lease claim failed", "err", err)
			if !sleep(ctx, w.bo.NextBackOff()) {
				return nil, false
			}
		}
	}
}

// claim claims or renews the lease as of now, and returns the holder when
// another has it.
func (w *worker) claim(ctx context.Context, now time.Time) (ok bool, holder string, err error) {
	name, me := leaseName(w.name), w.d.opts.Instance
	err = w.d.store.Update(ctx, func(tx store.Tx) error {
		ok, holder = false, ""
		got, err := tx.ClaimLease(name, me, now.UnixNano(), now.Add(w.d.opts.LeaseTTL).UnixNano())
		if err != nil {
			return fmt.Errorf("claim lease %s: %w", name, err)
		}
		if ok = got; ok {
			return nil
		}
		l, err := tx.Lease(name)
		if err != nil {
			return fmt.Errorf("read lease %s: %w", name, err)
		}
		holder = l.Holder
		return nil
	})
	return ok, holder, err
}

// renew keeps t's lease until t.ctx ends, ending the term when the lease
// is lost or when deadline (the lease's expiry less the margin) passes
// before a renewal succeeds.
func (w *worker) renew(t *term, deadline time.Time) {
	defer close(t.done)
	ttl := w.d.opts.LeaseTTL
	every := ttl / 3
	expire := time.NewTimer(time.Until(deadline))
	defer expire.Stop()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-expire.C:
			w.log.Warn("alert notifier lease not renewed in time, stopping delivery")
			t.cancel(errLeaseLost)
			return
		case <-tick.C:
		}
		start := time.Now()
		rctx, cancel := context.WithTimeout(t.ctx, every)
		ok, holder, err := w.claim(rctx, start)
		cancel()
		switch {
		case err == nil && ok:
			expire.Reset(time.Until(start.Add(ttl - leaseMargin(ttl))))
		case err == nil:
			w.log.Warn("alert notifier lease taken by another collector, stopping delivery", "holder", holder)
			t.cancel(errLeaseLost)
			return
		case t.ctx.Err() == nil:
			w.log.Warn("alert notifier lease renewal failed", "err", err)
		}
	}
}

// end stops renewing t's lease and releases it, so that another collector
// takes the notifier over at once rather than after the expiry (a release
// of a lease no longer ours does nothing).
func (w *worker) end(t *term) {
	t.cancel(context.Canceled)
	<-t.done
	w.d.metrics.leaseHeld.WithLabelValues(w.name).Set(0)
	// The backlog is the holder's to report: a standby's would go stale.
	w.d.metrics.pending.WithLabelValues(w.name).Set(0)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), shutdownSave)
	defer cancel()
	name := leaseName(w.name)
	err := w.d.store.Update(ctx, func(tx store.Tx) error { return tx.ReleaseLease(name, w.d.opts.Instance) })
	if err != nil {
		w.log.Warn("alert notifier lease release failed; it expires on its own", "err", err)
	}
}

// holds checks, inside a transaction that commits the worker's progress,
// that the worker still holds its lease and that it has not expired.
func (w *worker) holds(tx store.Tx) error {
	l, err := tx.Lease(leaseName(w.name))
	if errors.Is(err, store.ErrNotFound) {
		return errLeaseLost
	} else if err != nil {
		return fmt.Errorf("read lease: %w", err)
	}
	if l.Holder != w.d.opts.Instance || l.Until <= time.Now().UnixNano() {
		return errLeaseLost
	}
	return nil
}

// leaseMargin is how long before its lease's expiry a holder that could
// not renew stops delivering. It covers an in-flight Notify being
// canceled and clock differences between collectors.
func leaseMargin(ttl time.Duration) time.Duration { return ttl / 5 }

type instanceKey struct{}

// InstanceFrom returns the instance id of the collector delivering, which
// the Dispatcher puts in the context of every Notify and Refresh call.
func InstanceFrom(ctx context.Context) (string, bool) {
	s, ok := ctx.Value(instanceKey{}).(string)
	return s, ok && s != ""
}
