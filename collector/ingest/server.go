// Package ingest owns the collector's side of the agents' Sync streams: the
// handshake, exactly-once application of sequenced deltas through one
// group-committing writer, bucket resyncs, and acknowledgements sent only
// after the transaction that applied them is durable. The drift engine
// decides what a delta means; this package decides when it is safe to say
// it was received.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/version"
)

// Server implements plumbv1.AgentServiceServer.
type Server struct {
	plumbv1.UnimplementedAgentServiceServer

	st        store.Store
	logger    *slog.Logger
	metrics   *Metrics
	committer *committer
	authorize func(ctx context.Context, host string) error
	limits    limits.Limits
	lm        *limits.Metrics
	// pendingTotal is the wire bytes of unfinished bucket snapshots held
	// by every stream.
	pendingTotal atomic.Int64

	mu sync.Mutex
	// streams holds the live stream per host id; guarded by mu. A second
	// stream for the same host replaces (cancels) the first.
	streams map[string]*liveStream
}

type liveStream struct {
	cancel context.CancelCauseFunc
	bootID string
}

// Options configure New.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// OnCommit is called after each commit that appended drift events,
	// e.g. to wake the alert dispatcher and drift watchers.
	OnCommit func(events int)
	// Authorize decides whether the caller of a stream may speak for
	// host (auth.Authority.AuthorizeStream); nil lets anyone.
	Authorize func(ctx context.Context, host string) error
	// MaxDeltasPerCommit bounds a group commit; default 20000.
	MaxDeltasPerCommit int
	Now                func() time.Time
	// Limits bound what one agent may send; zero means limits.NewDefaults.
	// LimitMetrics counts refusals (nil: a private, unregistered one).
	Limits       limits.Limits
	LimitMetrics *limits.Metrics
}

// New returns a server; call Run to start its writer.
func New(st store.Store, eng *drift.Engine, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxDeltasPerCommit <= 0 {
		opts.MaxDeltasPerCommit = 20000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Limits == (limits.Limits{}) {
		opts.Limits = limits.NewDefaults()
	}
	if opts.LimitMetrics == nil {
		opts.LimitMetrics = limits.NewMetrics(nil)
	}
	m := NewMetrics(opts.Registerer)
	return &Server{
		st:        st,
		logger:    opts.Logger,
		metrics:   m,
		limits:    opts.Limits,
		lm:        opts.LimitMetrics,
		streams:   map[string]*liveStream{},
		authorize: opts.Authorize,
		committer: &committer{
			st: st, eng: eng, logger: opts.Logger, metrics: m, now: opts.Now,
			jobs:      make(chan *job, 1024),
			maxDeltas: opts.MaxDeltasPerCommit,
			onCommit:  opts.OnCommit,
			maxFacts:  opts.Limits.MaxFactsPerHost,
			lm:        opts.LimitMetrics,
		},
	}
}

// Run runs the writer until ctx ends.
func (s *Server) Run(ctx context.Context) { s.committer.run(ctx) }

// Connected reports whether host has a live stream.
func (s *Server) Connected(host string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.streams[host]
	return ok
}

// LiveHosts returns the hosts with a live stream here, in no order.
func (s *Server) LiveHosts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.streams))
	for h := range s.streams {
		out = append(out, h)
	}
	return out
}

var errReplaced = errors.New("a newer stream for this host replaced this one")

// CloseHost ends the host's live stream, if any, with cause (a status
// error the agent receives), and returns how many it ended.
func (s *Server) CloseHost(host string, cause error) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ls := s.streams[host]; ls != nil {
		ls.cancel(cause)
		delete(s.streams, host)
		return 1
	}
	return 0
}

// Sync serves one agent.
func (s *Server) Sync(st plumbv1.AgentService_SyncServer) error {
	ctx, cancel := context.WithCancelCause(st.Context())
	defer cancel(nil)

	first, err := s.recvHello(st)
	if err != nil {
		return err
	}
	if err := refusalOf(first); err != nil {
		return err
	}
	hello := first.GetHello()
	if hello == nil {
		return status.Error(codes.InvalidArgument, "the first message must be a hello")
	}
	if err := s.checkHello(hello); err != nil {
		return err
	}
	host := hello.GetHostId()
	if hello.GetBucketCount() != fact.BucketCount {
		return status.Errorf(codes.FailedPrecondition, "hello: agent uses %d set-digest buckets, collector %d; upgrade one of them",
			hello.GetBucketCount(), fact.BucketCount)
	}
	if s.authorize != nil {
		if err := s.authorize(ctx, host); err != nil {
			s.metrics.Rejected.Inc()
			return err
		}
	}
	logger := s.logger.With("host", host)

	me := &liveStream{cancel: cancel, bootID: hello.GetInfo().GetBootId()}
	s.mu.Lock()
	if old := s.streams[host]; old != nil && old.bootID != "" && me.bootID != "" && old.bootID != me.bootID {
		// Two machines with one identity (a VM cloned with its agent's
		// key): the one streaming keeps its stream. A host that rebooted
		// while its old stream was half open waits for keepalive to end
		// that stream (under a minute) and then connects.
		s.mu.Unlock()
		s.metrics.Rejected.Inc()
		logger.Warn("refused a second stream for a host from another boot: a cloned machine with this host's key?", "live_boot_id", old.bootID, "new_boot_id", me.bootID)
		return status.Errorf(codes.AlreadyExists, "host %q is streaming from another machine (boot id %s); a cloned VM with this host's key? Give the clone its own host id and state dir", host, old.bootID)
	}
	if old := s.streams[host]; old != nil {
		old.cancel(errReplaced)
		logger.Warn("host reconnected while its old stream was open; replacing it")
	}
	s.streams[host] = me
	s.mu.Unlock()
	s.metrics.Streams.Inc()
	defer func() {
		s.metrics.Streams.Dec()
		s.mu.Lock()
		if s.streams[host] == me {
			delete(s.streams, host)
		}
		s.mu.Unlock()
	}()

	r := s.committer.submit(ctx, &job{host: host, kind: jobHello, hello: hello})
	if r.err != nil {
		return storeError(r.err)
	}
	if err := st.Send(&plumbv1.SyncResponse{Msg: &plumbv1.SyncResponse_Welcome{Welcome: &plumbv1.Welcome{
		AppliedSeq:       r.appliedSeq,
		BucketDigests:    r.digest.Buckets(),
		SetDigest:        r.digest.Sum(),
		CollectorVersion: version.Version,
	}}}); err != nil {
		return err
	}
	logger.Info("agent connected", "applied_seq", r.appliedSeq, "agent_last_seq", hello.GetLastSeq(),
		"agent_acked_seq", hello.GetLastAckedSeq(), "agent_version", hello.GetInfo().GetAgentVersion())

	// Bucket snapshots may span several messages; facts gather here
	// until the final one.
	ss := &session{host: host, logger: logger, applied: r.appliedSeq, pending: &pendingSnapshots{s: s, buckets: map[uint32][]*plumbv1.Fact{}}}
	defer ss.pending.release()
	recv := receiver(ctx, st)
	for {
		m, err := recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return s.awaitBuckets(ctx, ss, 0, 0)
			}
			if cause := context.Cause(ctx); errors.Is(cause, errReplaced) {
				return status.Error(codes.Aborted, cause.Error())
			} else if isStatus(cause) {
				return cause // ended by CloseHost
			}
			s.countRecvLimit(err)
			return err
		}
		reply, err := s.handle(ctx, ss, m)
		if reply != nil {
			if err := st.Send(reply); err != nil {
				return err
			}
		}
		if err != nil {
			return err
		}
	}
}

// receiver returns a Recv that also returns when the stream is ended
// from this side (replaced, or revoked by CloseHost: ctx's cause is then
// errReplaced or a status), at once rather than at the agent's next
// message. When the stream itself ends, it returns the error gRPC's Recv
// gave, so that a refusal of gRPC's (a message too large) is seen.
func receiver(ctx context.Context, st plumbv1.AgentService_SyncServer) func() (*plumbv1.SyncRequest, error) {
	msgs := make(chan *plumbv1.SyncRequest)
	finished := make(chan struct{})
	var final error // set before finished is closed
	go func() {
		defer close(finished)
		for {
			m, err := st.Recv()
			if err != nil {
				final = err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	result := func() (*plumbv1.SyncRequest, error) {
		if final != nil {
			return nil, final
		}
		return nil, context.Cause(ctx)
	}
	return func() (*plumbv1.SyncRequest, error) {
		select {
		case m := <-msgs:
			return m, nil
		case <-finished:
			return result()
		case <-ctx.Done():
			if cause := context.Cause(ctx); errors.Is(cause, errReplaced) || isStatus(cause) {
				return nil, cause
			}
			<-finished // the stream ended: its Recv returns at once
			return result()
		}
	}
}

// isStatus reports whether err is a gRPC status error.
func isStatus(err error) bool {
	_, ok := status.FromError(err)
	return ok && err != nil
}

// session is one stream's state after its hello.
type session struct {
	host    string
	logger  *slog.Logger
	pending *pendingSnapshots
	// applied is the host's AppliedSeq as this stream last committed or
	// was welcomed at; each job expects it unchanged (job.expect).
	applied uint64
	// inflight are the stream's bucket snapshots handed to the committer
	// and not yet committed, oldest first, and their wire bytes.
	inflight      []inflightBucket
	inflightBytes int64
}

// submit commits a job of the session's stream, refusing it if the
// host's AppliedSeq moved under the stream, and returns its result or the
// status that ends the stream.
func (s *Server) submit(ctx context.Context, ss *session, j *job) (result, error) {
	j.host, j.expect, j.checked = ss.host, ss.applied, true
	return s.result(ss, s.committer.submit(ctx, j))
}

// result turns a committed job's result into the session's: a refusal
// because the host moved ends the stale stream (Aborted: reconnect and
// resume); a success moves the session's applied seq.
func (s *Server) result(ss *session, r result) (result, error) {
	if errors.Is(r.err, errMoved) {
		s.metrics.StaleStreams.Inc()
		ss.logger.Warn("host's deltas were applied through another stream meanwhile (the agent moved to another collector); telling this stale stream to reconnect and resume",
			"stream_applied_seq", ss.applied, "host_applied_seq", r.appliedSeq)
		return r, status.Errorf(codes.Aborted, "host %q moved: its deltas were applied through another stream (applied seq %d, this stream had %d); reconnect and resume", ss.host, r.appliedSeq, ss.applied)
	}
	if r.err != nil {
		return r, storeError(r.err)
	}
	ss.applied = r.appliedSeq
	return r, nil
}

// inflightBucket is one bucket snapshot the committer is committing.
type inflightBucket struct {
	j     *job
	bytes int64
}

// maxInflightBuckets bounds the bucket snapshots of one stream waiting
// for the committer. A resync sends up to 256 of them back to back and
// waits for no reply; committed one at a time, each paid a transaction
// and an fsync of its own. Their wire bytes are bounded as well, by the
// stream's pending-snapshot limit (so a stream holds at most twice it).
const maxInflightBuckets = 64

// awaitBuckets waits until at most keep of the stream's bucket snapshots
// and at most maxBytes of their bytes (0: none) are still committing.
// A failed one ends the stream, as it did when each was waited for.
func (s *Server) awaitBuckets(ctx context.Context, ss *session, keep int, maxBytes int64) error {
	for len(ss.inflight) > keep || (len(ss.inflight) > 0 && ss.inflightBytes > maxBytes) {
		ib := ss.inflight[0]
		ss.inflight[0] = inflightBucket{}
		ss.inflight = ss.inflight[1:]
		ss.inflightBytes -= ib.bytes
		r, err := s.result(ss, s.committer.wait(ctx, ib.j))
		if err != nil {
			return err
		}
		s.metrics.ResyncBuckets.Inc()
		ss.logger.Info("bucket resynced", "bucket", ib.j.bucket.bucket, "facts", len(ib.j.bucket.facts), "events", r.events)
	}
	if len(ss.inflight) == 0 {
		ss.inflight = nil
	}
	return nil
}

// handle checks and applies one message after the hello. It returns the
// reply to send, if any, then the status that ends the stream, if any.
func (s *Server) handle(ctx context.Context, ss *session, m *plumbv1.SyncRequest) (*plumbv1.SyncResponse, error) {
	if err := refusalOf(m); err != nil {
		return nil, err
	}
	if _, bucket := m.GetMsg().(*plumbv1.SyncRequest_Bucket); !bucket {
		// Whatever follows a resync's snapshots (its checkpoint) is
		// applied, and acknowledged, after every one of them.
		if err := s.awaitBuckets(ctx, ss, 0, 0); err != nil {
			return nil, err
		}
	}
	switch msg := m.GetMsg().(type) {
	case *plumbv1.SyncRequest_Deltas:
		ds := msg.Deltas.GetDeltas()
		if err := validDeltas(ds); err != nil {
			s.metrics.Rejected.Inc()
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		for _, d := range ds {
			if d.GetOp() == plumbv1.DeltaOp_DELTA_OP_UPSERT {
				s.trimContent(d.GetFact(), true)
			}
		}
		s.checkPackageChanges(ss.logger, ds)
		r, err := s.submit(ctx, ss, &job{kind: jobDeltas, deltas: ds})
		if err != nil {
			return nil, err
		}
		ack := &plumbv1.SyncResponse{Msg: &plumbv1.SyncResponse_Ack{Ack: &plumbv1.Ack{
			Seq: r.appliedSeq, SetDigest: r.digest.Sum(),
		}}}
		if r.mismatch {
			s.metrics.DigestMismatches.Inc()
			ss.logger.Warn("checkpoint set digest differs from the collector's; asking the agent to resync")
			return ack, status.Error(codes.FailedPrecondition, "set digest mismatch at checkpoint: reconnect to resync")
		}
		return ack, nil
	case *plumbv1.SyncRequest_Bucket:
		b := msg.Bucket
		if b.GetBucket() >= fact.BucketCount {
			return nil, status.Errorf(codes.InvalidArgument, "bucket %d out of range", b.GetBucket())
		}
		for _, f := range b.GetFacts() {
			if err := validFact(f); err != nil {
				return nil, status.Error(codes.InvalidArgument, err.Error())
			}
			if fact.KeyOf(f).Bucket() != b.GetBucket() {
				return nil, status.Errorf(codes.InvalidArgument, "fact %s is not in bucket %d", fact.KeyOf(f), b.GetBucket())
			}
			s.trimContent(f, false)
		}
		if err := ss.pending.add(b); err != nil {
			return nil, err
		}
		if !b.GetFinal() {
			return nil, nil
		}
		facts, n := ss.pending.take(b.GetBucket())
		// Handed to the committer without waiting: the stream's next
		// snapshots may join it in one transaction. Nothing is
		// acknowledged for a snapshot; what follows waits for it.
		if err := s.awaitBuckets(ctx, ss, maxInflightBuckets-1, max(s.limits.MaxPendingSnapshotBytes-n, 0)); err != nil {
			return nil, err
		}
		// A snapshot applies no delta, so the stream's applied seq
		// stays what each in-flight snapshot expects.
		j := &job{host: ss.host, kind: jobBucket, bucket: &bucketJob{bucket: b.GetBucket(), facts: facts},
			expect: ss.applied, checked: true}
		if err := s.committer.enqueue(ctx, j); err != nil {
			return nil, storeError(err)
		}
		ss.inflight = append(ss.inflight, inflightBucket{j: j, bytes: n})
		ss.inflightBytes += n
	case *plumbv1.SyncRequest_Coverage:
		conds := msg.Coverage.GetConditions()
		if err := s.checkCoverage(conds); err != nil {
			return nil, err
		}
		if _, err := s.submit(ctx, ss, &job{kind: jobCoverage, coverage: conds}); err != nil {
			return nil, err
		}
		if len(conds) > 0 {
			ss.logger.Warn("agent reports coverage gaps", "conditions", len(conds))
		}
	case *plumbv1.SyncRequest_Hello:
		return nil, status.Error(codes.InvalidArgument, "hello sent twice")
	default:
		return nil, status.Errorf(codes.InvalidArgument, "unknown message %T", msg)
	}
	return nil, nil
}

func validDeltas(ds []*plumbv1.Delta) error {
	var last uint64
	for _, d := range ds {
		if d.GetSeq() <= last {
			return fmt.Errorf("delta seq %d after %d: sequence numbers must increase", d.GetSeq(), last)
		}
		last = d.GetSeq()
		switch d.GetOp() {
		case plumbv1.DeltaOp_DELTA_OP_UPSERT:
			if err := validFact(d.GetFact()); err != nil {
				return err
			}
		case plumbv1.DeltaOp_DELTA_OP_DELETE:
			if d.GetFact().GetKind() == plumbv1.FactKind_FACT_KIND_UNSPECIFIED || len(d.GetFact().GetKey()) == 0 {
				return fmt.Errorf("delta %d: delete without kind and key", d.GetSeq())
			}
			if drift.IsRaised(d.GetFact().GetKind()) {
				return fmt.Errorf("delta %d: %w", d.GetSeq(), errHealthFromAgent)
			}
		case plumbv1.DeltaOp_DELTA_OP_CHECKPOINT:
		default:
			return fmt.Errorf("delta %d: unknown op %v", d.GetSeq(), d.GetOp())
		}
	}
	return nil
}

// errHealthFromAgent refuses a health fact: health items are what the
// collector says about a host, never what a host says about itself.
var errHealthFromAgent = errors.New("facts of kind health and expectation are raised by the collector, never sent by an agent")

// maxKeyLen bounds a fact key (PATH_MAX is 4096).
const maxKeyLen = limits.MaxKeyBytes

func validFact(f *plumbv1.Fact) error {
	switch {
	case f == nil:
		return errors.New("upsert without a fact")
	case f.GetKind() == plumbv1.FactKind_FACT_KIND_UNSPECIFIED:
		return errors.New("fact without a kind")
	case drift.IsRaised(f.GetKind()):
		return errHealthFromAgent
	case len(f.GetKey()) == 0 || len(f.GetKey()) > maxKeyLen:
		return fmt.Errorf("fact key of %d bytes (want 1 to %d)", len(f.GetKey()), maxKeyLen)
	case len(f.GetDigest()) != 32:
		return fmt.Errorf("fact %s: digest of %d bytes, want 32", fact.KeyOf(f), len(f.GetDigest()))
	}
	return nil
}

// storeError maps a failed commit to a status: the agent keeps its spool
// and retries later. A full disk lands here, and stops acks, not the
// process.
func storeError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, errReplaced) {
		return status.Error(codes.Aborted, err.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err // a refusal, already a status
	}
	return status.Errorf(codes.Unavailable, "collector could not commit: %v", err)
}
