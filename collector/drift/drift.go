// Package drift owns the collector's apply path: it turns a host's deltas
// into stored facts, keeps the host's set digest and fact count current,
// adopts the host's first complete snapshot as its baseline, and compares
// every changed fact with its baseline to open, update and resolve drift
// items. Operators accept drift here too.
//
// Every transition becomes a DriftEvent that is appended to the event log
// in the caller's transaction, so a finding and its notification commit
// together or not at all. Item and event ids derive only from the inputs
// (host, fact, and the delta's sequence or the resync's number), so
// re-applying a delta after a crash before commit produces the same ids,
// and webhook receivers can deduplicate.
package drift

import (
	"errors"
	"log/slog"
	"time"

	"github.com/plumb-dev/plumb/collector/golden"
	"github.com/plumb-dev/plumb/collector/severity"
)

// ErrDigestMismatch is returned, wrapped, by Apply for a checkpoint whose
// set digest differs from the collector's digest of the host. The delta is
// applied all the same and the returned events are valid: the caller should
// commit, then make the agent resync (for example by closing its stream).
var ErrDigestMismatch = errors.New("set digest mismatch")

// ErrInvalidDelta is returned, wrapped, for a delta or snapshot the engine
// cannot apply: an unknown op, a missing fact or kind, a fact without a
// digest, a fact outside the bucket being replaced. The transaction must be
// aborted and the host reloaded.
var ErrInvalidDelta = errors.New("invalid delta")

// ErrSeqWindow is returned by Apply for a delta numbered more than
// fact.SeqWindow above the host's applied sequence number. Nothing is
// applied.
var ErrSeqWindow = errors.New("sequence number outside the window")

// ErrChanged is returned, wrapped, by Accept when the fact's current value
// is not the one the caller expected: it changed after the caller read it.
var ErrChanged = errors.New("changed since it was read")

// ErrNoOpenDrift is returned, wrapped together with store.ErrNotFound, by
// Accept for a fact that has no open drift item.
var ErrNoOpenDrift = errors.New("no open drift")

// Engine applies deltas and evaluates drift. The zero value is usable; it
// reads the wall clock and logs nowhere.
type Engine struct {
	// Now is the collector clock; nil means time.Now.
	Now func() time.Time
	// Logger receives baseline adoption and checkpoint logs; nil discards.
	Logger *slog.Logger
	// Severity classifies drift items at each transition; nil means the
	// shipped defaults.
	Severity *severity.Rules
	// GroupExclusions are the facts no group baseline covers; nil means
	// golden.DefaultExclusions.
	GroupExclusions *golden.Exclusions
	// Expect holds the declared expectations (the policy) that every
	// changed fact is checked against; nil checks nothing.
	Expect Evaluator
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.New(slog.DiscardHandler)
}
