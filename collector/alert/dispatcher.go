package alert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plumb-dev/plumb/collector/store"
)

// Options tune a Dispatcher. Zero values take the defaults.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are kept but not exported
	// BatchSize is the most events handed to one Notify call (default 100).
	BatchSize int
	// PollInterval is how often an idle notifier looks at the log without
	// being kicked (default 5s): a safety net for a missed Kick.
	PollInterval time.Duration
	// InitialBackoff and MaxBackoff bound the jittered, doubling delay
	// between retries of a failing batch (defaults 200ms and 30s).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// Silencer, if set, holds back the events it says are silenced.
	Silencer Silencer
	// Instance names this collector process as the holder of notifier
	// leases (see lease.go); collectors sharing a database must use
	// different ones. Default: a random id per Dispatcher.
	Instance string
	// LeaseTTL is how long a notifier's lease lasts unrenewed (default
	// 15s): how soon another collector takes over a dead one's notifiers.
	LeaseTTL time.Duration
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = 200 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	o.MaxBackoff = max(o.MaxBackoff, o.InitialBackoff)
	if o.Instance == "" {
		o.Instance = NewInstanceID()
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 15 * time.Second
	}
}

// NewInstanceID returns a random id for one collector process, to name it
// as a lease holder.
func NewInstanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// Dispatcher delivers the store's event log to notifiers: one goroutine
// per notifier, each reading from its own durable cursor, so a slow or
// broken receiver delays only itself. When several collectors share the
// database, each notifier is delivered by the one holding its lease
// (lease.go); the others stand by.
//
// Delivery is at least once and in log order. A batch that fails with a
// retryable error is retried, forever, with jittered exponential backoff:
// an event stays pending until its receiver is back. A batch that fails
// with an error that is not retryable (a 4xx: the receiver rejects the
// request and always will) is logged at error level with its event ids,
// counted as dropped, and skipped: a stuck event must not block every
// later alert to on-call forever, and the drift stays visible in the API.
type Dispatcher struct {
	store   store.Store
	opts    Options
	metrics *metrics
	workers []*worker
	running atomic.Bool
}

// NewDispatcher returns a Dispatcher for notifiers, whose names must be
// unique. It registers its metrics with opts.Registerer.
func NewDispatcher(st store.Store, notifiers []Notifier, opts Options) (*Dispatcher, error) {
	if st == nil {
		return nil, errors.New("alert: nil store")
	}
	opts.setDefaults()
	names := make([]string, 0, len(notifiers))
	seen := map[string]bool{}
	for _, n := range notifiers {
		name := n.Name()
		if err := validName(name); err != nil {
			return nil, fmt.Errorf("notifier %q: %w", name, err)
		}
		if name == "" || seen[name] {
			return nil, fmt.Errorf("notifier name %q is empty or used twice", name)
		}
		seen[name] = true
		names = append(names, name)
	}
	m, err := newMetrics(opts.Registerer, names)
	if err != nil {
		return nil, err
	}
	d := &Dispatcher{store: st, opts: opts, metrics: m}
	for _, n := range notifiers {
		d.workers = append(d.workers, newWorker(d, n))
	}
	return d, nil
}

// Kick tells every notifier that new events may be in the log. It never
// blocks; the ingest path calls it after each commit that appended events.
func (d *Dispatcher) Kick() {
	for _, w := range d.workers {
		select {
		case w.kick <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// Run delivers until ctx ends, then waits for every notifier's goroutine
// to finish (an in-flight Notify sees ctx canceled) and returns nil. Before
// delivering it forgets the cursors of notifiers no longer configured.
// Store and delivery errors are logged and retried, never returned. Run may
// be called once.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("alert: dispatcher already ran")
	}
	if !d.forgetRemoved(ctx) {
		return nil
	}
	var wg sync.WaitGroup
	for _, w := range d.workers {
		wg.Go(func() { w.run(ctx) })
	}
	wg.Wait()
	return nil
}

// forgetRemoved drops the cursors of notifiers that are no longer
// configured, retrying store errors until ctx ends. It reports whether it
// finished.
func (d *Dispatcher) forgetRemoved(ctx context.Context) bool {
	configured := make(map[string]bool, len(d.workers))
	for _, w := range d.workers {
		configured[w.name] = true
	}
	bo := newBackoff(d.opts.InitialBackoff, d.opts.MaxBackoff)
	for {
		removed, err := forgetRemoved(ctx, d.store, configured, d.opts.Instance, time.Now().UnixNano())
		if err == nil {
			for _, r := range removed {
				d.opts.Logger.Info("alert notifier no longer configured, dropped its cursor",
					"notifier", r.name, "cursor", r.cursor, "undelivered", r.pending)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d.opts.Logger.Warn("alert dropping cursors of removed notifiers failed", "err", err)
		if !sleep(ctx, bo.NextBackOff()) {
			return false
		}
	}
}
