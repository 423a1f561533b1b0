package ingest

import (
	"errors"

	"google.golang.org/grpc/codes"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// refuse returns a status if job j must not be applied to host h at all:
// a delta numbered beyond the sequence window, or a batch or snapshot
// that would take the host past its fact quota. It only reads.
func (c *committer) refuse(tx store.ReadTx, h *store.Host, j *job) error {
	switch j.kind {
	case jobDeltas:
		if len(j.deltas) == 0 {
			return nil
		}
		// Deltas are in increasing order (validDeltas): the last is the
		// furthest from the applied number.
		if last := j.deltas[len(j.deltas)-1].GetSeq(); !fact.SeqWithin(h.AppliedSeq, last) {
			return c.lm.Refuse(codes.OutOfRange, limits.SeqWindow,
				"delta seq %d is more than %d above the applied seq %d; nothing of the batch was applied", last, fact.SeqWindow, h.AppliedSeq)
		}
		n, err := c.factsAfterDeltas(tx, h, j.deltas)
		if err != nil {
			return err
		}
		if n > c.maxFacts {
			return c.lm.Refuse(codes.ResourceExhausted, limits.FactsPerHost,
				"host %q would hold %d facts, at most %d; nothing of the batch was applied", h.ID, n, c.maxFacts)
		}
	case jobBucket:
		facts := uint64(len(j.bucket.facts))
		if h.FactCount+facts <= c.maxFacts {
			return nil
		}
		var have uint64
		err := tx.FactsInBucket(h.ID, j.bucket.bucket, func(*plumbv1.Fact) error { have++; return nil })
		if err != nil {
			return err
		}
		if n := h.FactCount - min(have, h.FactCount) + facts; n > c.maxFacts {
			return c.lm.Refuse(codes.ResourceExhausted, limits.FactsPerHost,
				"host %q would hold %d facts after resyncing bucket %d, at most %d; nothing was applied", h.ID, n, j.bucket.bucket, c.maxFacts)
		}
	}
	return nil
}

// factsAfterDeltas returns how many facts the host would hold after the
// deltas. Far from the quota it counts every upsert as new and looks
// nothing up; near it, it looks up each key once.
func (c *committer) factsAfterDeltas(tx store.ReadTx, h *store.Host, ds []*plumbv1.Delta) (uint64, error) {
	upserts := uint64(0)
	for _, d := range ds {
		if d.GetOp() == plumbv1.DeltaOp_DELTA_OP_UPSERT && d.GetSeq() > h.AppliedSeq {
			upserts++
		}
	}
	if h.FactCount+upserts <= c.maxFacts {
		return h.FactCount + upserts, nil
	}
	n := h.FactCount
	present := map[fact.Key]bool{}
	for _, d := range ds {
		if d.GetSeq() <= h.AppliedSeq {
			continue // skipped by Apply
		}
		op := d.GetOp()
		if op != plumbv1.DeltaOp_DELTA_OP_UPSERT && op != plumbv1.DeltaOp_DELTA_OP_DELETE {
			continue
		}
		k := fact.KeyOf(d.GetFact())
		was, seen := present[k]
		if !seen {
			_, err := tx.Fact(h.ID, k)
			switch {
			case err == nil:
				was = true
			case isNotFound(err):
			default:
				return 0, err
			}
		}
		now := op == plumbv1.DeltaOp_DELTA_OP_UPSERT
		present[k] = now
		switch {
		case now && !was:
			n++
		case !now && was && n > 0:
			n--
		}
	}
	return n, nil
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
