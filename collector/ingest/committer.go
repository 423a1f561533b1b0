package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync/atomic"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// job is one unit of work for the committer, from one agent stream. The
// stream waits for its result before it acknowledges anything, so a
// delta is acknowledged only once its transaction is durable.
type job struct {
	host string
	kind jobKind
	// one of the following, by kind
	hello    *plumbv1.Hello
	deltas   []*plumbv1.Delta
	bucket   *bucketJob
	coverage []*plumbv1.CoverageCondition
	// expect, when checked, is the host's AppliedSeq as the job's stream
	// last saw it (its welcome, or its previous job's result). Only this
	// stream's deltas move it, so a different number means the host's
	// deltas were applied through another stream meanwhile: another
	// collector sharing the database, to which the agent moved. The job
	// is then refused (errMoved) without writing anything, and its stale
	// stream ends; a compare-and-set on AppliedSeq, since the check and
	// the job's writes share one serializable transaction.
	expect  uint64
	checked bool

	done chan result
}

// errMoved is the result of a job whose host's AppliedSeq moved under its
// stream.
var errMoved = errors.New("the host's deltas were applied through another stream")

type jobKind int

const (
	jobDeltas jobKind = iota
	jobHello
	jobBucket
	jobCoverage
)

type bucketJob struct {
	bucket uint32
	facts  []*plumbv1.Fact
}

type result struct {
	appliedSeq uint64
	digest     fact.SetDigest
	mismatch   bool // a checkpoint's digest disagreed with the collector's
	events     int
	err        error
}

// maxAdoptedSeq caps the acknowledged number a new host record adopts
// from a hello, so that numbering always has room above it.
const maxAdoptedSeq = 1 << 62

// committer is the single writer: it takes jobs from every stream and
// commits as many as are waiting in one transaction (group commit), so
// fsync cost is shared across agents.
type committer struct {
	st      store.Store
	eng     *drift.Engine
	logger  *slog.Logger
	metrics *Metrics
	now     func() time.Time

	jobs chan *job
	// MaxDeltas bounds the deltas per transaction.
	maxDeltas int
	// onCommit is called after a commit that appended drift events.
	onCommit func(events int)
	// maxFacts is the quota of facts per host.
	maxFacts uint64
	lm       *limits.Metrics

	// running is set while run runs; busySince is the UnixNano start of
	// the commit in progress, 0 between commits (for Ready).
	running   atomic.Bool
	busySince atomic.Int64
}

func (c *committer) submit(ctx context.Context, j *job) result {
	if err := c.enqueue(ctx, j); err != nil {
		return result{err: err}
	}
	return c.wait(ctx, j)
}

// enqueue hands j to the committer without waiting for its result: jobs
// are committed in the order they are enqueued, so a stream may enqueue
// several (bucket snapshots) and let them share a transaction.
func (c *committer) enqueue(ctx context.Context, j *job) error {
	j.done = make(chan result, 1)
	select {
	case c.jobs <- j:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// wait returns the result of j, enqueued before.
func (c *committer) wait(ctx context.Context, j *job) result {
	select {
	case r := <-j.done:
		return r
	case <-ctx.Done():
		// The job may still commit; the agent will learn on reconnect.
		return result{err: context.Cause(ctx)}
	}
}

// moved reports whether h's AppliedSeq is no longer what j's stream
// expects (see job.expect).
func (j *job) moved(h *store.Host) bool {
	return j.checked && h.AppliedSeq != j.expect
}

// size is what j counts against maxDeltas: its deltas, or its bucket's
// facts (a resync's buckets share transactions too).
func (j *job) size() int {
	if j.bucket != nil {
		return len(j.bucket.facts)
	}
	return len(j.deltas)
}

func (c *committer) run(ctx context.Context) {
	c.running.Store(true)
	defer c.running.Store(false)
	for {
		var first *job
		select {
		case <-ctx.Done():
			return
		case first = <-c.jobs:
		}
		batch := []*job{first}
		n := first.size()
	drain:
		for n < c.maxDeltas {
			select {
			case j := <-c.jobs:
				batch = append(batch, j)
				n += j.size()
			default:
				break drain
			}
		}
		c.commit(ctx, batch, n)
	}
}

func (c *committer) commit(ctx context.Context, batch []*job, deltas int) {
	start := time.Now()
	if c.busySince.CompareAndSwap(0, start.UnixNano()) {
		// The outermost call (a failed group retries each job alone).
		defer c.busySince.Store(0)
	}
	results := make([]result, len(batch))
	err := c.st.Update(ctx, func(tx store.Tx) error {
		for i := 0; i < len(batch); {
			if run := bucketRun(batch[i:]); len(run) > 1 {
				ok, err := c.applyBuckets(tx, run, results[i:i+len(run)])
				if err != nil {
					return err
				}
				if ok {
					i += len(run)
					continue
				}
			}
			r, err := c.apply(tx, batch[i])
			if err != nil {
				return err
			}
			results[i] = r
			i++
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		// One bad job must not fail the others: retry each alone.
		c.logger.Warn("group commit failed; retrying jobs one by one", "jobs", len(batch), "err", err)
		for _, j := range batch {
			c.commit(ctx, []*job{j}, j.size())
		}
		return
	}
	c.metrics.CommitSeconds.Observe(time.Since(start).Seconds())
	c.metrics.CommitDeltas.Observe(float64(deltas))
	if err != nil {
		c.metrics.CommitErrors.Inc()
		batch[0].done <- result{err: err}
		return
	}
	events := 0
	for i, j := range batch {
		events += results[i].events
		if results[i].err == nil {
			c.metrics.DeltasApplied.Add(float64(len(j.deltas)))
		}
		j.done <- results[i]
	}
	if events > 0 && c.onCommit != nil {
		c.onCommit(events)
	}
}

// apply does one job inside the transaction.
func (c *committer) apply(tx store.Tx, j *job) (result, error) {
	h, err := tx.Host(j.host)
	if errors.Is(err, store.ErrNotFound) {
		h = &store.Host{ID: j.host}
	} else if err != nil {
		return result{}, err
	}
	if j.moved(h) {
		return result{err: errMoved, appliedSeq: h.AppliedSeq}, nil
	}
	if j.kind == jobHello && neverStreamed(h) {
		// A host the collector has no record of (new, or its record
		// lost) starts at the agent's acknowledged number: the
		// sequence window then holds around the agent's own
		// numbering, and the welcome's bucket digests (all empty)
		// make the agent resync everything it had acknowledged.
		h.AppliedSeq = min(j.hello.GetLastAckedSeq(), maxAdoptedSeq)
	}
	if p, ok := tx.(store.Prefetcher); ok && j.kind == jobDeltas {
		// A SQL store reads the batch's rows in a few round trips rather
		// than several per delta.
		if err := p.Prefetch(h.ID, deltaKeys(j.deltas)); err != nil {
			return result{}, err
		}
	}
	// A refusal writes nothing for this job and fails no other job of
	// the group: it is the job's result, not the transaction's error.
	if err := c.refuse(tx, h, j); err != nil {
		return result{err: err}, nil
	}
	h.LastSeen = c.now().UnixNano()
	var r result
	switch j.kind {
	case jobHello:
		h.Info = j.hello.GetInfo()
		relabeled := !maps.Equal(h.Labels, j.hello.GetLabels())
		h.Labels = j.hello.GetLabels()
		// A host reports again: every stream starts with a hello.
		evs, err := c.eng.Health(tx, h, drift.HealthReporting, false, "reporting again")
		if err != nil {
			return result{}, err
		}
		r.events += len(evs)
		if relabeled {
			// The policy's selectors may take the host in or leave it out.
			if evs, err = c.eng.Relabeled(tx, h); err != nil {
				return result{}, err
			}
			r.events += len(evs)
		}
	case jobBucket:
		evs, err := c.eng.ReplaceBucket(tx, h, j.bucket.bucket, j.bucket.facts)
		if err != nil {
			return result{}, err
		}
		r.events += len(evs)
	case jobCoverage:
		h.Coverage = j.coverage
		degraded, detail := coverageHealth(j.coverage)
		evs, err := c.eng.Health(tx, h, drift.HealthCoverage, degraded, detail)
		if err != nil {
			return result{}, err
		}
		r.events += len(evs)
	case jobDeltas:
		for _, d := range j.deltas {
			applied := h.AppliedSeq
			agentFacts, collectorFacts := d.GetFactCount(), h.FactCount
			evs, err := c.eng.Apply(tx, h, d)
			mismatch := errors.Is(err, drift.ErrDigestMismatch)
			if mismatch {
				r.mismatch = true
			} else if err != nil {
				return result{}, err
			}
			r.events += len(evs)
			if d.GetOp() != plumbv1.DeltaOp_DELTA_OP_CHECKPOINT || d.GetSeq() <= applied || len(d.GetSetDigest()) == 0 {
				continue
			}
			detail := fmt.Sprintf("set digest at checkpoint %d matches the agent's again", d.GetSeq())
			if mismatch {
				detail = fmt.Sprintf("the agent's set digest differs from the collector's (agent %d facts, collector %d); resyncing",
					agentFacts, collectorFacts)
			}
			evs, err = c.eng.Health(tx, h, drift.HealthDigest, mismatch, detail)
			if err != nil {
				return result{}, err
			}
			r.events += len(evs)
		}
	}
	if err := tx.PutHost(h); err != nil {
		return result{}, err
	}
	r.appliedSeq = h.AppliedSeq
	r.digest = h.Digest
	return r, nil
}

// bucketRun returns the bucket snapshots at the start of jobs that one
// host's stream sent one after another, each of a different bucket: a
// resync's, which applyBuckets replaces together.
func bucketRun(jobs []*job) []*job {
	if len(jobs) < 2 || jobs[0].kind != jobBucket || jobs[1].kind != jobBucket {
		return nil
	}
	seen := map[uint32]bool{}
	n := 0
	for _, j := range jobs {
		if j.kind != jobBucket || j.host != jobs[0].host || seen[j.bucket.bucket] {
			break
		}
		seen[j.bucket.bucket] = true
		n++
	}
	return jobs[:n]
}

// applyBuckets replaces the buckets of run, one host's consecutive bucket
// snapshots, with one drift.ReplaceBuckets (the host's facts written in
// key order across them), and fills in their results. It reports false,
// having written nothing, when the run must be applied job by job
// instead: a host without a record, or a run that could take the host
// past its fact quota (the only refusal of a bucket snapshot; job by job
// it is checked precisely, and counted once), or a stale stream's run
// (the host's AppliedSeq moved: apply refuses each job with errMoved).
func (c *committer) applyBuckets(tx store.Tx, run []*job, results []result) (bool, error) {
	h, err := tx.Host(run[0].host)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	for _, j := range run {
		if j.moved(h) {
			return false, nil
		}
	}
	var facts uint64
	buckets := make([]drift.BucketFacts, len(run))
	for i, j := range run {
		facts += uint64(len(j.bucket.facts))
		buckets[i] = drift.BucketFacts{Bucket: j.bucket.bucket, Facts: j.bucket.facts}
	}
	// Within this, no job of the run could be refused (refuse's quota
	// check passes at once for each).
	if h.FactCount+facts > c.maxFacts {
		return false, nil
	}
	h.LastSeen = c.now().UnixNano()
	evs, err := c.eng.ReplaceBuckets(tx, h, buckets)
	if err != nil {
		return false, err
	}
	if err := tx.PutHost(h); err != nil {
		return false, err
	}
	for i := range results {
		results[i] = result{appliedSeq: h.AppliedSeq, digest: h.Digest}
	}
	// The run's events are counted once, on its first job.
	results[0].events = len(evs)
	return true, nil
}

// neverStreamed reports whether h has never been heard from: no record
// at all, or one that only the collector wrote (a health item raised by
// auth for an enrolled host that had not streamed yet).
func neverStreamed(h *store.Host) bool {
	return h.LastSeen == 0 && h.AppliedSeq == 0 && h.FactCount == 0 && !h.HasBaseline
}

// deltaKeys are the keys of the facts the deltas upsert or delete.
func deltaKeys(ds []*plumbv1.Delta) []fact.Key {
	keys := make([]fact.Key, 0, len(ds))
	for _, d := range ds {
		if f := d.GetFact(); f != nil {
			keys = append(keys, fact.KeyOf(f))
		}
	}
	return keys
}
