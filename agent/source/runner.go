package source

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// Recorder is where the runner records what sources report: the agent's
// state database. Apply is called from one goroutine only.
type Recorder interface {
	// Apply records a batch: upserts, deletes and checkpoints, in order.
	Apply(batch []Op) (int, error)
	Lookup(k fact.Key) (*plumbv1.Fact, bool)
	// Facts calls fn for each stored fact of kind whose key starts with
	// prefix.
	Facts(kind plumbv1.FactKind, prefix string, fn func(*plumbv1.Fact) error) error
}

// BatchRecorder is a Recorder that looks many keys up at once, safely
// from any goroutine, concurrently with Apply (the runner's sink is then a
// BatchLooker).
type BatchRecorder interface {
	LookupAll(keys []fact.Key, out []*plumbv1.Fact)
}

// EmptyChecker is a Recorder that tells cheaply whether it stores any
// fact of kind whose key starts with prefix. A snapshot whose scope holds
// nothing stored or pending when it begins (the agent's first scan) skips
// its sweep at End: whatever the scope holds by then was reported in it.
type EmptyChecker interface {
	StoresUnder(kind plumbv1.FactKind, prefix string) (bool, error)
}

// KeyLister is a Recorder that can list the stored keys of kind under
// prefix, in any order, without decoding their facts. The sweep at a
// snapshot's end, which visits every stored fact of its scope, uses it
// when no scope involved selects by value (Scope.Manager).
type KeyLister interface {
	Keys(kind plumbv1.FactKind, prefix string, fn func(fact.Key) error) error
}

// Op is one recorded observation: exactly one of Upsert, Delete or
// Checkpoint is set. Change may come with an Upsert of a package whose
// version changed (ChangeSink); it goes with the upsert's delta.
type Op struct {
	Upsert     *plumbv1.Fact
	Change     *plumbv1.PackageChange
	Delete     *fact.Key
	Checkpoint bool
}

// Runner runs the enabled sources and funnels what they report, through
// one owner goroutine, into the Recorder in batches.
type Runner struct {
	rec     Recorder
	logger  *slog.Logger
	metrics *runnerMetrics
	sources map[string]Source

	ops      chan sinkOp
	done     chan struct{} // closed when the recorder loop has stopped
	pending  *pendingView
	ready    chan struct{} // closed when every source is ready
	coverage *Coverage
	// MaxBatch bounds the observations per Recorder.Apply.
	MaxBatch int
	// ScanLinger is how long, while a snapshot is open, the runner lets
	// a batch gather before recording it, unless it reaches MaxBatch: a
	// scan reports tens of thousands of facts a second, and each record
	// is a transaction with an fsync (and, downstream, a message and a
	// collector commit). Outside snapshots every change is recorded as
	// soon as it arrives.
	ScanLinger time.Duration
}

// Build creates the sources named in enabled with their options.
func Build(logger *slog.Logger, enabled map[string]Options) (map[string]Source, error) {
	out := map[string]Source{}
	var errs []error
	for name, opts := range enabled {
		r, err := lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s, err := r.factory(logger.With("source", name), opts)
		if err != nil {
			errs = append(errs, errors.New("source "+name+": "+err.Error()))
			continue
		}
		out[name] = s
	}
	return out, errors.Join(errs...)
}

// NewRunner returns a runner for sources; reg may be nil.
func NewRunner(logger *slog.Logger, rec Recorder, sources map[string]Source, reg prometheus.Registerer) *Runner {
	cov := NewCoverage()
	return &Runner{
		rec:        rec,
		logger:     logger,
		metrics:    newRunnerMetrics(reg, sources, cov),
		sources:    sources,
		ops:        make(chan sinkOp, 4096),
		done:       make(chan struct{}),
		pending:    newPendingView(),
		ready:      make(chan struct{}),
		coverage:   cov,
		MaxBatch:   2000,
		ScanLinger: 50 * time.Millisecond,
	}
}

// Ready is closed once every source has completed its initial snapshot
// and the checkpoint that marks it has been recorded.
func (r *Runner) Ready() <-chan struct{} { return r.ready }

// Coverage returns the runner's coverage conditions.
func (r *Runner) Coverage() *Coverage { return r.coverage }

type opKind int

const (
	opUpsert opKind = iota
	opKeep
	opDelete
	opHold
	opBegin
	opEnd
	opReady
)

type sinkOp struct {
	kind   opKind
	source string
	fact   *plumbv1.Fact
	change *plumbv1.PackageChange // with an upsert, from UpsertChange
	key    fact.Key
	scope  Scope
	note   uint64        // the pending view's note for an upsert or delete
	ended  chan struct{} // End: closed once the sweep's deletes are noted
}

// Run runs every source and the recorder loop until ctx ends. A source
// that returns an error is logged, counted and restarted after a pause;
// its snapshot on restart repairs anything it missed.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for name, s := range r.sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runSource(ctx, name, s)
		}()
	}
	err := r.loop(ctx)
	close(r.done)
	wg.Wait()
	return err
}

func (r *Runner) runSource(ctx context.Context, name string, s Source) {
	logger := r.logger.With("source", name)
	sink := &sink{r: r, name: name}
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     time.Second,
		RandomizationFactor: 0.2,
		Multiplier:          2,
		MaxInterval:         time.Minute,
	}
	bo.Reset()
	for {
		start := time.Now()
		err := s.Run(ctx, sink)
		if ctx.Err() != nil {
			return
		}
		pause := bo.NextBackOff()
		r.metrics.failures.WithLabelValues(name).Inc()
		logger.Error("source stopped; restarting", "err", err, "after", pause, "ran", time.Since(start))
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		// The new run reports the gaps it finds; those it does not are
		// closed when its first snapshot is complete (Ready).
		r.coverage.Restart(name)
	}
}

// loop is the single owner of snapshot bookkeeping and of the Recorder.
func (r *Runner) loop(ctx context.Context) error {
	open := map[Scope]*openSnapshot{}
	readySources := map[string]bool{}
	readyDone := false
	batch := make([]Op, 0, r.MaxBatch)
	notes := make([]pendingRef, 0, r.MaxBatch) // what the batch settles in the pending view

	var lastFlush time.Time
	flush := func() {
		if len(batch) == 0 {
			return
		}
		start := time.Now()
		lastFlush = start
		for {
			n, err := r.rec.Apply(batch)
			if err == nil {
				r.metrics.batch.Observe(float64(len(batch)))
				r.metrics.recorded.Add(float64(n))
				r.metrics.applyLatency.Observe(time.Since(start).Seconds())
				r.pending.committed(notes)
				break
			}
			// A full disk or similar: keep the batch, back off, retry.
			// Sources block meanwhile (back-pressure), nothing is dropped.
			r.logger.Error("recording changes failed; retrying", "err", err, "batch", len(batch))
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
		batch = batch[:0]
		notes = notes[:0]
	}
	add := func(op Op, ref pendingRef) {
		batch = append(batch, op)
		if ref.n != 0 {
			notes = append(notes, ref)
		}
	}

	handle := func(op sinkOp) {
		switch op.kind {
		case opUpsert:
			k := fact.KeyOf(op.fact)
			for sc, snap := range open {
				if sc.Contains(k, op.fact) {
					snap.seen.add(k)
				}
			}
			add(Op{Upsert: op.fact, Change: op.change}, pendingRef{k, op.note})
		case opKeep:
			for _, snap := range open {
				snap.seen.add(op.key)
			}
		case opHold:
			for _, snap := range open {
				snap.held = append(snap.held, op.scope)
			}
		case opDelete:
			k := op.key
			add(Op{Delete: &k}, pendingRef{k, op.note})
		case opBegin:
			snap := &openSnapshot{seen: newKeySet()}
			if ec, ok := r.rec.(EmptyChecker); ok && len(batch) == 0 {
				// Nothing pending either (batch is empty): if nothing is
				// stored in scope, all it holds at End is reported in it
				// (every upsert in scope is seen, Keep names a stored
				// fact), so there is nothing to sweep.
				stored, err := ec.StoresUnder(op.scope.Kind, op.scope.Prefix)
				snap.fresh = err == nil && !stored
			}
			open[op.scope] = snap
		case opEnd:
			// The source waits for this: its next Lookup must see the
			// sweep's deletes.
			defer close(op.ended)
			snap, ok := open[op.scope]
			if !ok {
				r.logger.Warn("snapshot end without begin", "source", op.source, "kind", fact.KindName(op.scope.Kind), "prefix", op.scope.Prefix)
				return
			}
			delete(open, op.scope)
			// Upserts of this snapshot may still be in batch; record them
			// first so the sweep sees the database as the source does.
			flush()
			var gone []fact.Key
			var err error
			if snap.fresh {
				r.metrics.snapshots.WithLabelValues(op.source).Inc()
				return
			}
			if kl, ok := r.rec.(KeyLister); ok && !snap.selectsByValue(op.scope) {
				err = kl.Keys(op.scope.Kind, op.scope.Prefix, func(k fact.Key) error {
					if !snap.saw(k, nil) && op.scope.Contains(k, nil) {
						gone = append(gone, k)
					}
					return nil
				})
			} else {
				err = r.rec.Facts(op.scope.Kind, op.scope.Prefix, func(f *plumbv1.Fact) error {
					k := fact.KeyOf(f)
					if !snap.saw(k, f) && op.scope.Contains(k, f) {
						gone = append(gone, k)
					}
					return nil
				})
			}
			if err != nil {
				r.logger.Error("snapshot sweep failed", "source", op.source, "err", err)
				return
			}
			for i := range gone {
				add(Op{Delete: &gone[i]}, pendingRef{gone[i], r.pending.note(gone[i], nil)})
			}
			r.metrics.snapshots.WithLabelValues(op.source).Inc()
		case opReady:
			r.coverage.Settle(op.source)
			if readySources[op.source] {
				return
			}
			readySources[op.source] = true
			r.logger.Info("source ready", "source", op.source)
			if !readyDone && len(readySources) == len(r.sources) {
				add(Op{Checkpoint: true}, pendingRef{})
				flush()
				readyDone = true
				r.logger.Info("initial snapshot complete")
				close(r.ready)
			}
		}
	}

	if len(r.sources) == 0 {
		add(Op{Checkpoint: true}, pendingRef{})
		flush()
		readyDone = true
		close(r.ready)
	}
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	lingering := false
	for {
		var lingered <-chan time.Time
		if lingering {
			lingered = linger.C
		}
		select {
		case <-ctx.Done():
			flush()
			return nil
		case op := <-r.ops:
			handle(op)
		case <-lingered:
			lingering = false
		}
		// Drain what is already queued, up to a batch, then record it
		// (during a scan, once it is large or has waited long enough).
	drain:
		for len(batch) < r.MaxBatch {
			select {
			case op := <-r.ops:
				handle(op)
			default:
				break drain
			}
		}
		if len(open) > 0 && len(batch) > 0 && len(batch) < r.MaxBatch {
			if wait := r.ScanLinger - time.Since(lastFlush); wait > 0 {
				if !lingering {
					linger.Reset(wait)
					lingering = true
				}
				continue
			}
		}
		if lingering {
			linger.Stop()
			lingering = false
		}
		flush()
	}
}

// openSnapshot is what the runner knows of a snapshot between its Begin
// and End: the keys reported in it, and the scopes its source could not
// see (Hold).
type openSnapshot struct {
	seen *keySet
	held []Scope
	// fresh: nothing was stored or pending in scope at Begin, so End
	// has nothing to sweep (EmptyChecker).
	fresh bool
}

// selectsByValue reports whether sc or a scope held in s needs a stored
// fact's value, not only its key, to say whether it contains it.
func (s *openSnapshot) selectsByValue(sc Scope) bool {
	if sc.Manager != "" {
		return true
	}
	for _, h := range s.held {
		if h.Manager != "" {
			return true
		}
	}
	return false
}

// saw reports whether the stored fact f (key k) counts as seen.
func (s *openSnapshot) saw(k fact.Key, f *plumbv1.Fact) bool {
	if s.seen.has(k) {
		return true
	}
	for _, h := range s.held {
		if h.Contains(k, f) {
			return true
		}
	}
	return false
}

// sink is what one source sees.
type sink struct {
	r    *Runner
	name string
}

func (s *sink) send(op sinkOp) bool {
	op.source = s.name
	select {
	case s.r.ops <- op:
		return true
	case <-s.r.done:
		return false
	}
}

// Upsert and Delete note the change in the pending view before queueing
// it, so that the source's next Lookup sees it although the recorder has
// not committed it yet.
func (s *sink) Upsert(f *plumbv1.Fact) {
	s.send(sinkOp{kind: opUpsert, fact: f, note: s.r.pending.note(fact.KeyOf(f), f)})
}

var _ ChangeSink = (*sink)(nil)

// UpsertChange implements ChangeSink.
func (s *sink) UpsertChange(f *plumbv1.Fact, c *plumbv1.PackageChange) {
	s.send(sinkOp{kind: opUpsert, fact: f, change: c, note: s.r.pending.note(fact.KeyOf(f), f)})
}

func (s *sink) Delete(k fact.Key) {
	s.send(sinkOp{kind: opDelete, key: k, note: s.r.pending.note(k, nil)})
}

func (s *sink) Keep(k fact.Key) { s.send(sinkOp{kind: opKeep, key: k}) }
func (s *sink) Hold(sc Scope)   { s.send(sinkOp{kind: opHold, scope: sc}) }
func (s *sink) Begin(sc Scope)  { s.send(sinkOp{kind: opBegin, scope: sc}) }
func (s *sink) Ready()          { s.send(sinkOp{kind: opReady}) }

// End returns once the runner has decided what the snapshot deletes, so
// that no Lookup after it answers with a fact the sweep is removing.
func (s *sink) End(sc Scope) {
	ended := make(chan struct{})
	if !s.send(sinkOp{kind: opEnd, scope: sc, ended: ended}) {
		return
	}
	select {
	case <-ended:
	case <-s.r.done:
	}
}

func (s *sink) Coverage(c Condition) { s.r.coverage.Set(s.name, c) }

// Facts implements FactReader, answering like Lookup: from what was
// reported, committed or not.
func (s *sink) Facts(sc Scope, fn func(*plumbv1.Fact) error) error {
	pending := s.r.pending.in(sc)
	err := s.r.rec.Facts(sc.Kind, sc.Prefix, func(f *plumbv1.Fact) error {
		k := fact.KeyOf(f)
		if _, ok := pending[k]; ok || !sc.Contains(k, f) {
			return nil
		}
		return fn(f)
	})
	if err != nil {
		return err
	}
	for _, f := range pending {
		if f != nil {
			if err := fn(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// Lookup answers from what the source has reported, committed or not.
func (s *sink) Lookup(k fact.Key) (*plumbv1.Fact, bool) {
	if f, ok := s.r.pending.lookup(k); ok {
		return f, f != nil
	}
	return s.r.rec.Lookup(k)
}

var _ ScopeChecker = (*sink)(nil)

// Holds implements ScopeChecker: the pending view, then the recorder, if
// it can tell (EmptyChecker).
func (s *sink) Holds(sc Scope) bool {
	if s.r.pending.holds(sc.Kind, sc.Prefix) {
		return true
	}
	ec, ok := s.r.rec.(EmptyChecker)
	if !ok {
		return true
	}
	stored, err := ec.StoresUnder(sc.Kind, sc.Prefix)
	return err != nil || stored
}

var _ BatchLooker = (*sink)(nil)

// LookupAll implements BatchLooker: from the pending view, and the rest
// from the recorder in one read if it can (BatchRecorder).
func (s *sink) LookupAll(keys []fact.Key, out []*plumbv1.Fact) {
	rest := s.r.pending.lookupAll(keys, out)
	if len(rest) == 0 {
		return
	}
	br, ok := s.r.rec.(BatchRecorder)
	if !ok {
		for _, i := range rest {
			out[i], _ = s.r.rec.Lookup(keys[i])
		}
		return
	}
	ks := make([]fact.Key, len(rest))
	for j, i := range rest {
		ks[j] = keys[i]
	}
	fs := make([]*plumbv1.Fact, len(rest))
	br.LookupAll(ks, fs)
	for j, i := range rest {
		out[i] = fs[j]
	}
}
