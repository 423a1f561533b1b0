// Package stream owns the agent's side of the gRPC Sync stream: the
// handshake, the bucket resync it may call for, sending the spool in
// order, applying acknowledgements, and failing over to the next
// collector, with backoff and jitter per round over the list, when the
// collector or the network goes away.
package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/endpoint"
	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/state"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// Spool is what the client needs of the agent's state: *state.DB.
type Spool interface {
	PendingWire(after uint64, max int) ([]state.WireDelta, error)
	Ack(seq uint64) error
	Resume(applied uint64, theirs [][]byte) ([]uint32, error)
	ResyncBuckets(bs []uint32) (map[uint32][]*plumbv1.Fact, error)
	Status() state.Status
	Notify() <-chan struct{}
	ResyncNeeded() <-chan struct{}
	Checkpoint() error
}

// Collectors is where the client finds collectors: *endpoint.List.
type Collectors interface {
	// Addresses are the configured addresses (the metric's labels).
	Addresses() []string
	// Endpoints returns this round's endpoints in the order to try them;
	// with an error naming addresses that did not resolve.
	Endpoints(ctx context.Context) ([]endpoint.Endpoint, error)
	Dial(e endpoint.Endpoint, extra ...grpc.DialOption) (*grpc.ClientConn, error)
}

// Config describes the client.
type Config struct {
	HostID string
	Labels map[string]string
	Info   *plumbv1.HostInfo
	// MinBackoff and MaxBackoff bound the wait between rounds of attempts
	// (a round tries every collector once): it doubles from MinBackoff up
	// to MaxBackoff, each wait jittered by ±50% so that agents do not
	// reconnect in step after a collector restart.
	MinBackoff, MaxBackoff time.Duration
	// AckTimeout ends a session whose collector leaves deltas
	// unacknowledged this long (up, but its database is not), or an
	// attempt whose collector has not welcomed the agent by then: the
	// agent fails over. Default DefaultAckTimeout.
	AckTimeout time.Duration
	// BatchSize is the most deltas (or snapshot facts) per message.
	BatchSize int
	// BatchBytes bounds a message's encoded deltas or facts, so that a
	// batch of long keys stays far below the collector's receive limit;
	// default DefaultBatchBytes. One item larger than this goes alone.
	BatchBytes int
	// Ready is closed once the agent's initial snapshot is recorded. After
	// a resync the client then spools a checkpoint, so the collector
	// checks the digest (and adopts a baseline if it has none, as after
	// losing its database).
	Ready <-chan struct{}
}

// DefaultAckTimeout is the default Config.AckTimeout. A collector acks a
// group commit in milliseconds; half a minute leaves room for one that
// is merely slow.
const DefaultAckTimeout = 30 * time.Second

// Client keeps one Sync stream open to one of the collectors, failing
// over to the next when it goes away. It is also a
// grpc.ClientConnInterface onto the collector it streams to, for the
// agent's other calls (certificate renewal).
type Client struct {
	collectors Collectors
	cfg        Config
	spool      Spool
	coverage   *source.Coverage
	logger     *slog.Logger
	metrics    *Metrics

	mu   sync.Mutex
	conn *grpc.ClientConn // guarded by mu: the collector streamed to, or nil
	// lastAck is when the session's last ack arrived (unix ns; 0: none
	// yet), for the failover log.
	lastAck atomic.Int64
}

// New returns a client of collectors; coverage may be nil.
func New(collectors Collectors, cfg Config, spool Spool, coverage *source.Coverage, logger *slog.Logger, m *Metrics) *Client {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = DefaultBatchBytes
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	m.addCollectors(collectors.Addresses())
	return &Client{collectors: collectors, cfg: cfg, spool: spool, coverage: coverage, logger: logger, metrics: m}
}

// Run keeps a session open until ctx ends. Each round resolves the
// collectors and tries them in order, starting after the one last used
// (so a collector that just failed is tried last), moving on at once from
// one that cannot be reached. The backoff is per round, not per address:
// a dead collector costs one refused connection, and agents whose
// collector died wait a jittered interval before they land on the next.
func (c *Client) Run(ctx context.Context) error {
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     c.cfg.MinBackoff,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         c.cfg.MaxBackoff,
	}
	bo.Reset()
	var last, streamed string // endpoints last tried and last streamed to
	var again bool            // start the next round with last, not after it
	for {
		eps, err := c.collectors.Endpoints(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			c.logger.Warn("resolving collector addresses", "err", err, "endpoints", len(eps))
		}
		var ended, lastErr error
		order := rotate(eps, last, again)
		again = false
		for _, ep := range order {
			start := time.Now()
			established, err := c.attempt(ctx, ep, streamed)
			if ctx.Err() != nil {
				return nil
			}
			last, lastErr = ep.Dial, err
			if !established {
				if len(eps) > 1 {
					c.logger.Warn("collector unreachable", "collector", ep.Address, "endpoint", ep.Dial, "err", err)
				}
				continue
			}
			streamed = ep.Dial
			ended = err
			// A resync the agent asked for is no fault of the collector.
			again = errors.Is(err, errResync)
			// A session that ran a while resets the backoff.
			if time.Since(start) > c.cfg.MaxBackoff {
				bo.Reset()
			}
			break
		}
		wait := bo.NextBackOff()
		c.metrics.Reconnects.Inc()
		switch {
		case len(eps) == 1 || again:
			// One collector: the message it always had.
			c.logger.Warn("collector stream ended; reconnecting", "endpoint", last, "err", lastErr, "in", wait.Round(time.Millisecond))
		case ended != nil:
			lastAck := "none"
			if t := c.lastAck.Load(); t != 0 {
				lastAck = time.Unix(0, t).UTC().Format(time.RFC3339Nano)
			}
			c.logger.Warn("failing over", "from", streamed, "err", ended, "in", wait.Round(time.Millisecond), "last_ack", lastAck)
		default:
			c.logger.Warn("no collector reachable; retrying", "endpoints", len(eps), "in", wait.Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// rotate returns eps starting after the endpoint dialed as last, or
// with it if again.
func rotate(eps []endpoint.Endpoint, last string, again bool) []endpoint.Endpoint {
	for i, e := range eps {
		if e.Dial == last {
			if !again {
				i++
			}
			return append(slices.Clone(eps[i:]), eps[:i]...)
		}
	}
	return eps
}

// attempt runs one session with ep on a connection of its own. It reports
// whether the session was established (the collector's welcome accepted)
// and the error that ended it.
func (c *Client) attempt(ctx context.Context, ep endpoint.Endpoint, previous string) (bool, error) {
	conn, err := c.collectors.Dial(ep)
	if err != nil {
		return false, fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	established := false
	err = c.session(ctx, conn, ep, func(w *plumbv1.Welcome) {
		established = true
		c.lastAck.Store(0)
		c.mu.Lock()
		c.conn = conn
		c.mu.Unlock()
		if previous != "" && previous != ep.Dial {
			c.metrics.Failovers.Inc()
		}
		c.logger.Info("streaming to collector", "collector", ep.Address, "endpoint", ep.Dial, "applied_seq", w.GetAppliedSeq(),
			"spooled", c.spool.Status().SpoolLen, "collector_version", w.GetCollectorVersion())
		c.metrics.Connected.Set(1)
		c.metrics.Collector.WithLabelValues(ep.Address).Set(1)
	})
	if established {
		c.metrics.Connected.Set(0)
		c.metrics.Collector.WithLabelValues(ep.Address).Set(0)
		c.mu.Lock()
		c.conn = nil
		c.mu.Unlock()
	}
	return established, err
}

// errNotStreaming answers calls made while no collector is streamed to.
var errNotStreaming = status.Error(codes.Unavailable, "not streaming to any collector")

// Invoke makes a unary call to the collector the client streams to.
func (c *Client) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return errNotStreaming
	}
	return conn.Invoke(ctx, method, args, reply, opts...)
}

// NewStream opens a stream to the collector the client streams to.
func (c *Client) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return nil, errNotStreaming
	}
	return conn.NewStream(ctx, desc, method, opts...)
}

// errResync ends a session so that the next handshake repairs a
// disagreement between agent and collector.
var errResync = errors.New("set digests disagree; reconnecting to resync")

// session runs one Sync stream over conn; established is called once the
// collector's welcome is accepted.
func (c *Client) session(ctx context.Context, conn grpc.ClientConnInterface, ep endpoint.Endpoint, established func(*plumbv1.Welcome)) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// A collector that takes the connection but never welcomes (hung, or
	// stalled in the TLS handshake) is given up after AckTimeout, not
	// gRPC's 20s connect timeout or never.
	welcomeTimer := time.AfterFunc(c.cfg.AckTimeout, func() { cancel(errNoWelcome) })
	defer welcomeTimer.Stop()
	client := plumbv1.NewAgentServiceClient(conn)
	st, err := client.Sync(ctx, grpc.WaitForReady(false), grpc.MaxCallRecvMsgSize(maxRecvMsgSize), grpc.ForceCodecV2(newSendCodec()))
	if err != nil {
		return fmt.Errorf("open stream: %w", welcomeErr(ctx, err))
	}
	s := &session{c: c, st: st, ep: ep}
	s.progress.Store(time.Now().UnixNano())
	// A spool dropped while no session was open is repaired by this
	// handshake (the drop set the acked digest to the current state, so
	// Resume finds the buckets to resync). Its signal must not then end
	// the session that repairs it, discarding snapshots in flight.
	select {
	case <-c.spool.ResyncNeeded():
	default:
	}
	status0 := c.spool.Status()
	if err := s.send(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Hello{Hello: &plumbv1.Hello{
		HostId:         c.cfg.HostID,
		LastAckedSeq:   status0.AckedSeq,
		LastSeq:        status0.Seq,
		AckedSetDigest: status0.AckedDigest,
		Labels:         c.cfg.Labels,
		Info:           c.cfg.Info,
		BucketCount:    fact.BucketCount,
	}}}); err != nil {
		return fmt.Errorf("send hello: %w", welcomeErr(ctx, err))
	}
	resp, err := st.Recv()
	if err != nil {
		return fmt.Errorf("await welcome: %w", welcomeErr(ctx, err))
	}
	welcomeTimer.Stop()
	w := resp.GetWelcome()
	if w == nil {
		return fmt.Errorf("%w: %T before a welcome", errBadCollectorMessage, resp.GetMsg())
	}
	if err := checkWelcome(w); err != nil {
		return c.refuse(err)
	}
	buckets, err := c.spool.Resume(w.GetAppliedSeq(), w.GetBucketDigests())
	if errors.Is(err, state.ErrPeerAhead) {
		return c.refuse(err)
	} else if err != nil {
		return err
	}
	established(w)
	if len(buckets) > 0 {
		n, err := s.resync(buckets)
		c.metrics.ResyncBuckets.Add(float64(len(buckets)))
		if err != nil {
			return err
		}
		c.logger.Info("resynced buckets that differed", "buckets", len(buckets), "facts", n, "bytes", s.resyncBytes)
		if c.isReady() {
			if err := c.spool.Checkpoint(); err != nil {
				return fmt.Errorf("checkpoint after resync: %w", err)
			}
		}
	}
	s.sent.Store(w.GetAppliedSeq())
	s.acked.Store(w.GetAppliedSeq())

	errc := make(chan error, 4)
	go func() { errc <- s.sendLoop(ctx, w.GetAppliedSeq()) }()
	go func() { errc <- s.recvLoop(ctx) }()
	go func() { errc <- s.coverageLoop(ctx) }()
	go func() { errc <- s.ackWatch(ctx) }()
	err = <-errc
	cancel(err)
	return err
}

// errNoWelcome ends an attempt whose collector did not welcome in time.
var errNoWelcome = errors.New("no welcome from the collector within the ack timeout")

// welcomeErr says so when err comes of the welcome timer.
func welcomeErr(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), errNoWelcome) {
		return fmt.Errorf("%w (%v)", errNoWelcome, err)
	}
	return err
}

// refuse logs a collector message the agent will not act on, counts it,
// and returns the error that ends the session; Run retries with backoff.
func (c *Client) refuse(err error) error {
	c.metrics.Refused.Inc()
	c.logger.Error("refusing the collector's message; will reconnect later", "err", err)
	return err
}

func (c *Client) isReady() bool {
	if c.cfg.Ready == nil {
		return false
	}
	select {
	case <-c.cfg.Ready:
		return true
	default:
		return false
	}
}

type session struct {
	c  *Client
	st grpc.BidiStreamingClient[plumbv1.SyncRequest, plumbv1.SyncResponse]
	ep endpoint.Endpoint
	// acks is recvLoop's own: the session's first ack is logged, the
	// moment a failover completes.
	acks int

	sendMu      sync.Mutex // serializes st.Send
	resyncBytes int
	inSync      bool // recvLoop's own; "in sync" is logged once per session

	// For ackWatch: the last seq sent and acked on this stream, and when
	// the collector last showed progress (unix ns).
	sent, acked atomic.Uint64
	progress    atomic.Int64
	// grace extends the ack timeout (ns) after a resync, until an ack.
	grace atomic.Int64
}

func (s *session) send(m *plumbv1.SyncRequest) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.c.metrics.BytesSent.Add(float64(proto.Size(m)))
	return s.st.Send(m)
}

// sendEncoded sends a SyncRequest in wire form (encodeDeltas).
func (s *session) sendEncoded(m encoded) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.c.metrics.BytesSent.Add(float64(len(m)))
	return s.st.SendMsg(m)
}

// resyncBucketGrace is how much longer the ack watch waits per bucket
// snapshot sent: the collector applies them, each in its own commit,
// before it gets to the deltas that follow, and acks none of them.
const resyncBucketGrace = 100 * time.Millisecond

// resyncGroup is how many buckets one pass over the agent's state
// gathers: a full resync makes 256/resyncGroup passes and holds about
// resyncGroup/256 of the facts in memory at a time.
const resyncGroup = 32

// resync sends a snapshot of each bucket, in messages of at most
// BatchSize facts.
func (s *session) resync(buckets []uint32) (int, error) {
	n := 0
	for len(buckets) > 0 {
		group := buckets[:min(resyncGroup, len(buckets))]
		buckets = buckets[len(group):]
		byBucket, err := s.c.spool.ResyncBuckets(group)
		if err != nil {
			return n, err
		}
		for _, b := range group {
			facts := byBucket[b]
			for i := 0; ; {
				end := i + byBytes(facts[i:min(i+s.c.cfg.BatchSize, len(facts))], s.c.cfg.BatchBytes)
				m := &plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Bucket{Bucket: &plumbv1.BucketSnapshot{
					Bucket: b, Facts: facts[i:end], Final: end == len(facts),
				}}}
				s.resyncBytes += proto.Size(m)
				if err := s.send(m); err != nil {
					return n, fmt.Errorf("send bucket %d: %w", b, err)
				}
				s.progress.Store(time.Now().UnixNano())
				if end == len(facts) {
					break
				}
				i = end
			}
			n += len(facts)
			s.grace.Add(int64(resyncBucketGrace))
		}
	}
	s.c.metrics.Resyncs.Inc()
	return n, nil
}

// sendLoop sends spooled deltas after `after`, in order, as they appear.
func (s *session) sendLoop(ctx context.Context, after uint64) error {
	for {
		batch, err := s.c.spool.PendingWire(after, s.c.cfg.BatchSize)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-s.c.spool.Notify():
			case <-s.c.spool.ResyncNeeded():
				return errResync
			}
			continue
		}
		for rest := batch; len(rest) > 0; {
			part := rest[:wireByBytes(rest, s.c.cfg.BatchBytes)]
			rest = rest[len(part):]
			if err := s.sendEncoded(encodeDeltas(part)); err != nil {
				return fmt.Errorf("send deltas: %w", err)
			}
			s.c.metrics.DeltasSent.Add(float64(len(part)))
			s.sent.Store(part[len(part)-1].Seq)
		}
		after = batch[len(batch)-1].Seq
	}
}

func (s *session) recvLoop(ctx context.Context) error {
	for {
		resp, err := s.st.Recv()
		if err != nil {
			if status.Code(err) == codes.FailedPrecondition {
				return fmt.Errorf("%w: %v", errResync, err)
			}
			return fmt.Errorf("receive: %w", err)
		}
		switch m := resp.GetMsg().(type) {
		case *plumbv1.SyncResponse_Ack:
			if err := checkAck(m.Ack, s.c.spool.Status().Seq); err != nil {
				return s.c.refuse(err)
			}
			now := time.Now()
			s.acked.Store(m.Ack.GetSeq())
			s.progress.Store(now.UnixNano())
			s.grace.Store(0)
			s.c.lastAck.Store(now.UnixNano())
			if s.acks++; s.acks == 1 {
				s.c.logger.Info("first ack from collector", "collector", s.ep.Address, "endpoint", s.ep.Dial, "seq", m.Ack.GetSeq())
			}
			if err := s.c.spool.Ack(m.Ack.GetSeq()); err != nil {
				if errors.Is(err, state.ErrPeerAhead) {
					return s.c.refuse(err)
				}
				return err
			}
			if err := s.checkDigest(m.Ack); err != nil {
				return err
			}
		case *plumbv1.SyncResponse_Resync:
			buckets, err := resyncBuckets(m.Resync)
			if err != nil {
				return s.c.refuse(err)
			}
			s.c.metrics.ResyncBuckets.Add(float64(len(buckets)))
			if _, err := s.resync(buckets); err != nil {
				return err
			}
		default:
			s.c.logger.Warn("unexpected message from collector", "type", fmt.Sprintf("%T", m))
		}
	}
}

// checkDigest compares digests when nothing is in flight: then the
// collector's state must equal the agent's. A mismatch ends the session so
// the next handshake resyncs.
func (s *session) checkDigest(a *plumbv1.Ack) error {
	st := s.c.spool.Status()
	if st.SpoolLen > 0 || st.AckedSeq != a.GetSeq() || len(a.GetSetDigest()) == 0 {
		return nil
	}
	if !bytes.Equal(st.AckedDigest, a.GetSetDigest()) {
		s.c.metrics.DigestMismatches.Inc()
		s.c.logger.Error("collector's set digest differs from the agent's", "seq", a.GetSeq(),
			"agent", fmt.Sprintf("%x", st.AckedDigest[:8]), "collector", fmt.Sprintf("%x", a.GetSetDigest()[:min(8, len(a.GetSetDigest()))]))
		return errResync
	}
	if !s.inSync {
		s.inSync = true
		s.c.logger.Info("in sync with collector", "seq", a.GetSeq(), "facts", st.Facts, "set_digest", fmt.Sprintf("%x", st.Digest[:8]))
	}
	return nil
}

// errAckTimeout ends a session whose collector stopped acknowledging.
var errAckTimeout = errors.New("collector left deltas unacknowledged")

// ackWatch ends the session when deltas are in flight and the collector
// has shown no progress (an ack, or a resync message sent) for
// AckTimeout: a collector that is up but cannot commit (its database
// down) holds the stream open and never acks, and only this notices it.
// An idle stream is left alone; keepalive covers a silent peer there.
func (s *session) ackWatch(ctx context.Context) error {
	timeout := s.c.cfg.AckTimeout
	tick := time.NewTicker(max(timeout/10, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case now := <-tick.C:
			if s.sent.Load() <= s.acked.Load() {
				s.progress.Store(now.UnixNano()) // nothing in flight
				continue
			}
			if idle := now.Sub(time.Unix(0, s.progress.Load())); idle > timeout+time.Duration(s.grace.Load()) {
				s.c.metrics.AckTimeouts.Inc()
				return fmt.Errorf("%w for %v (sent up to seq %d, acked %d)", errAckTimeout, idle.Round(time.Millisecond), s.sent.Load(), s.acked.Load())
			}
		}
	}
}

// coverageLoop sends the coverage conditions at start and on each change.
func (s *session) coverageLoop(ctx context.Context) error {
	if s.c.coverage == nil {
		<-ctx.Done()
		return context.Cause(ctx)
	}
	var sent uint64 = ^uint64(0)
	for {
		conds, v := s.c.coverage.Snapshot()
		if v != sent {
			if err := s.send(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Coverage{Coverage: &plumbv1.Coverage{Conditions: boundCoverage(conds)}}}); err != nil {
				return fmt.Errorf("send coverage: %w", err)
			}
			sent = v
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-s.c.coverage.Changed():
		}
	}
}

// DefaultBatchBytes is the default Config.BatchBytes: a sixteenth of the
// collector's default receive limit.
const DefaultBatchBytes = 1 << 20

// byBytes returns how many of items, from the first, fit in limit encoded
// bytes (with their field tags); at least one if items is not empty.
func byBytes[M proto.Message](items []M, limit int) int {
	return fitBytes(items, limit, func(m M) int { return protowire.SizeTag(1) + protowire.SizeBytes(proto.Size(m)) })
}

// wireByBytes is byBytes for deltas in wire form.
func wireByBytes(items []state.WireDelta, limit int) int {
	return fitBytes(items, limit, wireSize)
}

func fitBytes[T any](items []T, limit int, size func(T) int) int {
	total := 0
	for i, m := range items {
		total += size(m)
		if total > limit && i > 0 {
			return i
		}
	}
	return len(items)
}
