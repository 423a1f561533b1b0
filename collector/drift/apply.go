package drift

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// Apply applies one delta to the host inside tx and returns the drift
// events it causes, already appended to the event log. h is updated in
// memory (AppliedSeq, FactCount, Digest, HasBaseline, OpenDrift); the
// caller PutHosts once per batch. Deltas with Seq <= h.AppliedSeq are
// skipped, so each is applied exactly once.
//
// A checkpoint compares its set digest with the host's, then adopts the
// host's current facts as its baseline when it has none and they agree; on
// a mismatch Apply returns the events and an error wrapping
// ErrDigestMismatch, having applied the delta (no baseline adopted). Any other error means nothing should be committed and
// h must be reloaded.
func (e *Engine) Apply(tx store.Tx, h *store.Host, d *plumbv1.Delta) ([]*plumbv1.DriftEvent, error) {
	if d.GetSeq() <= h.AppliedSeq {
		return nil, nil
	}
	if !fact.SeqWithin(h.AppliedSeq, d.GetSeq()) {
		// Believing it would freeze the host: every later, real delta
		// would look like a duplicate.
		return nil, fmt.Errorf("%w: host %q seq %d is more than %d above applied seq %d",
			ErrSeqWindow, h.ID, d.GetSeq(), fact.SeqWindow, h.AppliedSeq)
	}
	a := e.applier(tx, h, cause{n: d.GetSeq()}, d.GetObservedUnixNano())
	var mismatch error
	switch d.GetOp() {
	case plumbv1.DeltaOp_DELTA_OP_UPSERT:
		a.pkgChange = d.GetPackageChange()
		if err := a.upsert(d.GetFact(), nil); err != nil {
			return nil, err
		}
	case plumbv1.DeltaOp_DELTA_OP_DELETE:
		f := d.GetFact()
		if f.GetKind() == plumbv1.FactKind_FACT_KIND_UNSPECIFIED {
			return nil, fmt.Errorf("%w: host %q seq %d: delete without a fact kind", ErrInvalidDelta, h.ID, d.GetSeq())
		}
		if IsRaised(f.GetKind()) {
			return nil, fmt.Errorf("%w: host %q seq %d: %s is the collector's to say, not a fact an agent deletes", ErrInvalidDelta, h.ID, d.GetSeq(), fact.KindName(f.GetKind()))
		}
		if err := a.delete(fact.KeyOf(f), nil); err != nil {
			return nil, err
		}
	case plumbv1.DeltaOp_DELTA_OP_CHECKPOINT:
		var err error
		if mismatch, err = a.checkpoint(d); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: host %q seq %d: op %v", ErrInvalidDelta, h.ID, d.GetSeq(), d.GetOp())
	}
	h.AppliedSeq = d.GetSeq()
	return a.events, mismatch
}

// ReplaceBucket makes the host's facts in set-digest bucket b equal to
// facts (a resync): it deletes the host's facts in b that are not in
// facts and upserts the rest, evaluating drift for each change exactly as
// Apply does. It does not touch AppliedSeq: a resync applies no delta.
// Instead it counts the resync in h.Resyncs, which the caller stores with
// PutHost as it does after Apply, and derives the resync's drift ids from
// that number: no two resyncs of a host share ids, even at one applied
// seq or across restarts, and a retried transaction repeats them. On error
// h must be reloaded, as after Apply.
func (e *Engine) ReplaceBucket(tx store.Tx, h *store.Host, b uint32, facts []*plumbv1.Fact) ([]*plumbv1.DriftEvent, error) {
	return e.ReplaceBuckets(tx, h, []BucketFacts{{Bucket: b, Facts: facts}})
}

// BucketFacts is the whole content of one set-digest bucket of a host,
// as an agent's resync sends it.
type BucketFacts struct {
	Bucket uint32
	Facts  []*plumbv1.Fact
}

// ReplaceBuckets is ReplaceBucket for several distinct buckets at once,
// as a full resync sends them: the same result as replacing each in turn,
// but the host's facts are written in key order across all of them
// rather than bucket by bucket (a bucket's keys are spread over the
// whole key space; bbolt pays for random key order). The resyncs are
// counted one per bucket; their drift ids derive from the last number.
func (e *Engine) ReplaceBuckets(tx store.Tx, h *store.Host, buckets []BucketFacts) ([]*plumbv1.DriftEvent, error) {
	n := 0
	for _, bf := range buckets {
		n += len(bf.Facts)
	}
	want := make(map[fact.Key]*plumbv1.Fact, n)
	seen := make(map[uint32]bool, len(buckets))
	for _, bf := range buckets {
		b := bf.Bucket
		if b >= fact.BucketCount {
			return nil, fmt.Errorf("%w: host %q: bucket %d out of range", ErrInvalidDelta, h.ID, b)
		}
		if seen[b] {
			return nil, fmt.Errorf("%w: host %q: bucket %d twice in one replacement", ErrInvalidDelta, h.ID, b)
		}
		seen[b] = true
		for _, f := range bf.Facts {
			if err := checkFact(f); err != nil {
				return nil, fmt.Errorf("%w: host %q bucket %d: %w", ErrInvalidDelta, h.ID, b, err)
			}
			k := fact.KeyOf(f)
			if k.Bucket() != b {
				return nil, fmt.Errorf("%w: host %q: %s belongs in bucket %d, not %d", ErrInvalidDelta, h.ID, k, k.Bucket(), b)
			}
			want[k] = f
		}
	}
	have := map[fact.Key]*plumbv1.Fact{}
	for _, bf := range buckets {
		// A bucket whose sum is the empty set's holds no fact: nothing
		// to look up (the scan reads every fact of the host). The
		// host's set digest is what the agent compared to ask for this
		// resync; it is kept with every fact put and deleted, so it is
		// to be trusted here as much as there.
		if h.Digest.Empty(bf.Bucket) {
			continue
		}
		err := tx.FactsInBucket(h.ID, bf.Bucket, func(f *plumbv1.Fact) error {
			have[fact.KeyOf(f)] = f
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("resync host %q bucket %d: %w", h.ID, bf.Bucket, err)
		}
	}

	h.Resyncs += uint64(len(buckets))
	a := e.applier(tx, h, cause{resync: true, n: h.Resyncs}, 0)
	for _, k := range sortedKeys(have) {
		if _, keep := want[k]; !keep {
			if err := a.delete(k, have[k]); err != nil {
				return nil, err
			}
		}
	}
	for _, k := range sortedKeys(want) {
		old := have[k]
		if old == nil {
			old = absent
		}
		if err := a.upsert(want[k], old); err != nil {
			return nil, err
		}
	}
	return a.events, nil
}

// absent stands for "known not to exist" where nil means "not looked up".
var absent = &plumbv1.Fact{}

// applier carries one Apply or ReplaceBucket call's inputs and output.
type applier struct {
	e        *Engine
	tx       store.Tx
	h        *store.Host
	cause    cause
	observed int64 // agent clock of the delta, 0 if unknown
	events   []*plumbv1.DriftEvent
	// pkgChange is the agent's check of the upgraded package the delta
	// upserts, if it sent one: it goes on that package item's event,
	// whatever the transition (a return to the baseline version too).
	pkgChange *plumbv1.PackageChange
	// group is the baseline of the host's group (nil: none), once
	// groupLoaded.
	group       *store.GroupBaseline
	groupLoaded bool
}

func (e *Engine) applier(tx store.Tx, h *store.Host, c cause, observed int64) *applier {
	return &applier{e: e, tx: tx, h: h, cause: c, observed: observed}
}

// upsert stores f. old is the stored value if the caller knows it (absent
// for none), nil to look it up.
func (a *applier) upsert(f *plumbv1.Fact, old *plumbv1.Fact) error {
	if err := checkFact(f); err != nil {
		return fmt.Errorf("%w: host %q %s: %w", ErrInvalidDelta, a.h.ID, a.cause, err)
	}
	k := fact.KeyOf(f)
	if old == nil {
		var err error
		if old, err = lookup(a.tx.Fact(a.h.ID, k)); err != nil {
			return err
		}
	} else if old == absent {
		old = nil
	}
	stored := withoutContent(f)
	if old != nil && bytes.Equal(old.GetDigest(), f.GetDigest()) && proto.Equal(old, stored) {
		// The very value stored, volatile attributes and all (a resync
		// resends every fact of a bucket): nothing to write.
		return nil
	}
	if err := a.tx.PutFact(a.h.ID, stored); err != nil {
		return err
	}
	if old == nil {
		a.h.FactCount++
	} else if bytes.Equal(old.GetDigest(), f.GetDigest()) {
		// A touch or same-content rewrite: fresh volatile attributes, no
		// change to digests or drift.
		return nil
	}
	// History begins with the baseline: neither the facts of the first
	// snapshot nor their changes before it is adopted (a host's first scan
	// settling) cost a history entry each.
	if a.h.HasBaseline {
		if err := a.tx.PutFactChange(a.h.ID, a.e.now().UnixNano(), k, old); err != nil {
			return err
		}
	}
	a.h.Digest.Replace(k, digestOrNil(old), f.GetDigest())
	if err := a.evaluate(k, f); err != nil {
		return err
	}
	return a.expect(k, f)
}

// withoutContent returns f without its content change (a copy if it had
// one). The change is context for the drift item (evaluate stores it
// there, on the item's current fact), not part of the host's state: the
// stored fact stays small, and a later touch of the file does not repeat
// an old diff.
func withoutContent(f *plumbv1.Fact) *plumbv1.Fact {
	if f.GetFile().GetContent() == nil {
		return f
	}
	c := proto.CloneOf(f)
	c.GetFile().Content = nil
	return c
}

// delete removes k. old is its stored value if the caller knows it, nil to
// look it up.
func (a *applier) delete(k fact.Key, old *plumbv1.Fact) error {
	if old == nil {
		var err error
		if old, err = lookup(a.tx.Fact(a.h.ID, k)); err != nil {
			return err
		}
		if old == nil {
			return nil // already gone
		}
	}
	if err := a.tx.DeleteFact(a.h.ID, k); err != nil {
		return err
	}
	if a.h.HasBaseline { // history begins with the baseline, as in upsert
		if err := a.tx.PutFactChange(a.h.ID, a.e.now().UnixNano(), k, old); err != nil {
			return err
		}
	}
	a.h.Digest.Replace(k, old.GetDigest(), nil)
	if a.h.FactCount > 0 {
		a.h.FactCount--
	}
	if err := a.evaluate(k, nil); err != nil {
		return err
	}
	return a.expect(k, nil)
}

// checkpoint compares set digests and, if they agree and the host has no
// baseline, adopts its current facts as the baseline. A baseline is never
// adopted where the digest shows the collector does not hold exactly the
// state the agent had at the checkpoint: on a mismatch the agent resyncs
// and sends another checkpoint, and the baseline is adopted there. (Only
// agents older than this check sent checkpoints without a digest.)
// mismatch wraps ErrDigestMismatch.
func (a *applier) checkpoint(d *plumbv1.Delta) (mismatch, err error) {
	log := a.e.logger()
	want := d.GetSetDigest()
	if got := a.h.Digest.Sum(); len(want) > 0 && !bytes.Equal(want, got) {
		log.Warn("set digest mismatch", "host", a.h.ID, "seq", d.GetSeq(),
			"agent_digest", fmt.Sprintf("%x", want), "collector_digest", fmt.Sprintf("%x", got),
			"agent_facts", d.GetFactCount(), "collector_facts", a.h.FactCount, "has_baseline", a.h.HasBaseline)
		return fmt.Errorf("%w: host %q at seq %d: agent %x, collector %x", ErrDigestMismatch, a.h.ID, d.GetSeq(), want, got), nil
	}
	if !a.h.HasBaseline {
		n, err := adoptBaseline(a.tx, a.h.ID)
		if err != nil {
			return nil, err
		}
		a.h.HasBaseline = true
		log.Info("baseline adopted", "host", a.h.ID, "seq", d.GetSeq(), "facts", n)
		// A member's first snapshot is its own baseline only where its
		// group's does not apply: hold it to the group's now. And the
		// host's whole state is known now: judge it by every rule, those
		// about facts it lacks too.
		if err := a.regroup(nil); err != nil {
			return nil, err
		}
		return nil, a.expectAll()
	}
	log.Debug("set digest match", "host", a.h.ID, "seq", d.GetSeq(), "facts", a.h.FactCount)
	return nil, nil
}

// adoptBaseline makes the host's baseline equal to its current facts.
func adoptBaseline(tx store.Tx, host string) (int, error) {
	if a, ok := tx.(store.BaselineAdopter); ok {
		return a.AdoptBaseline(host)
	}
	var stale []fact.Key
	err := tx.Baselines(host, func(f *plumbv1.Fact) error {
		stale = append(stale, fact.KeyOf(f))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("adopt baseline of %q: %w", host, err)
	}
	for _, k := range stale {
		if err := tx.DeleteBaseline(host, k); err != nil {
			return 0, err
		}
	}
	var current []*plumbv1.Fact
	err = tx.Facts(host, plumbv1.FactKind_FACT_KIND_UNSPECIFIED, func(f *plumbv1.Fact) error {
		current = append(current, f)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("adopt baseline of %q: %w", host, err)
	}
	for _, f := range current {
		if err := tx.PutBaseline(host, f); err != nil {
			return 0, err
		}
	}
	return len(current), nil
}

func checkFact(f *plumbv1.Fact) error {
	switch {
	case f == nil:
		return errors.New("no fact")
	case f.GetKind() == plumbv1.FactKind_FACT_KIND_UNSPECIFIED:
		return fmt.Errorf("fact %q has no kind", fact.Display(f.GetKey()))
	case IsRaised(f.GetKind()):
		return fmt.Errorf("fact %q is of kind %s, which only the collector raises", fact.Display(f.GetKey()), fact.KindName(f.GetKind()))
	case len(f.GetDigest()) != sha256.Size:
		return fmt.Errorf("fact %s has a %d-byte digest, want %d", fact.KeyOf(f), len(f.GetDigest()), sha256.Size)
	}
	return nil
}

// lookup turns store.ErrNotFound into a nil value.
func lookup[T any](v *T, err error) (*T, error) {
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

func digestOrNil(f *plumbv1.Fact) []byte {
	if f == nil {
		return nil
	}
	return f.GetDigest()
}
