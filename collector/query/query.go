// Package query owns the collector's QueryService: operators and tools
// list hosts, facts and drift, accept drift, and watch drift events as
// they commit. It reads through store.Store and accepts through the drift
// engine; domain errors become gRPC codes here, once, at the edge.
package query

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/collector/store"
)

// Subscriber tells watchers that events were committed. The channel is
// signalled without blocking (buffered 1, so signals coalesce) after each
// commit that appended events; cancel releases it.
type Subscriber interface {
	Subscribe() (ch <-chan struct{}, cancel func())
}

// notifier is what a Subscriber may also be: AcceptDrift signals its own
// commits through it.
type notifier interface {
	Notify()
}

// defaultPoll is how often a watch re-reads the event log without a
// signal, so that a writer that forgets to notify delays events rather
// than losing them.
const defaultPoll = 2 * time.Second

// watchBatch bounds how many events a watch reads per transaction.
const watchBatch = 64

// Server implements plumbv1.QueryServiceServer.
type Server struct {
	plumbv1.UnimplementedQueryServiceServer

	st        store.Store
	eng       *drift.Engine
	events    Subscriber
	connected func(hostID string) bool
	// liveWindow, if set, is how recent a host's LastSeen makes it count
	// as connected through another collector (WithLiveWindow).
	liveWindow time.Duration
	logger     *slog.Logger
	poll       time.Duration
	digestKey  []byte // keys digests of unreadable files for callers below admin
	notifiers  func() []*plumbv1.NotifierStatus

	closeOnce sync.Once
	done      chan struct{} // closed by Close: watches end

	limits  limits.Limits
	lm      *limits.Metrics
	watches atomic.Int64 // open WatchDrift streams
	// fleetScan holds a token while a fleet comparison (ListOutliers)
	// reads every selected host's facts: one at a time, so that a viewer
	// cannot keep the collector busy with many.
	fleetScan chan struct{}
}

// New returns a server over st. eng accepts drift; events wakes watches
// (nil disables WatchDrift); connected reports whether a host's agent is
// connected now (nil: never); logger may be nil.
func New(st store.Store, eng *drift.Engine, events Subscriber, connected func(hostID string) bool, logger *slog.Logger) *Server {
	if connected == nil {
		connected = func(string) bool { return false }
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		st: st, eng: eng, events: events, connected: connected, logger: logger,
		poll: defaultPoll, done: make(chan struct{}),
		limits: limits.NewDefaults(), lm: limits.NewMetrics(nil),
		fleetScan: make(chan struct{}, 1),
	}
}

// WithLiveWindow makes a host last seen within d count as connected
// although it has no stream here: it streams to another collector sharing
// the database, which stamps its last-seen time more often than d
// (reporting.Options.Heartbeat). A host that just left counts as
// connected for up to d. It returns s; call it before serving.
func (s *Server) WithLiveWindow(d time.Duration) *Server {
	s.liveWindow = d
	return s
}

// hostConnected reports whether h's agent streams to this collector, or
// (WithLiveWindow) to another.
func (s *Server) hostConnected(h *store.Host) bool {
	if s.connected(h.ID) {
		return true
	}
	return s.liveWindow > 0 && time.Now().UnixNano()-h.LastSeen < int64(s.liveWindow)
}

// WithLimits sets the limits of watch streams and fact pages (default
// limits.NewDefaults) and the metrics that count refusals; it returns s.
// Call it before serving.
func (s *Server) WithLimits(l limits.Limits, m *limits.Metrics) *Server {
	s.limits, s.lm = l, m
	return s
}

// Close ends every WatchDrift stream, so that grpc.Server.GracefulStop
// does not wait for watchers that never leave. Unary calls are unaffected.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

// view runs fn in a read transaction, mapping its error to a gRPC status.
func (s *Server) view(ctx context.Context, fn func(store.ReadTx) error) error {
	return toStatus(s.st.View(ctx, fn))
}
