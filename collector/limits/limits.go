// Package limits owns what bounds the collector against its peers: the
// configurable limits (a `limits:` section of the collector's config),
// the listener that caps connections per peer address and in total, the
// gRPC server options that cap streams, message sizes and handshakes, and
// the one counter every refusal is counted by,
// plumb_collector_limit_rejections_total{limit}.
//
// Every peer is hostile until proven otherwise: a limit refuses a whole
// message (nothing of it is applied) with a gRPC status that names the
// limit, never half-applies it, and never lets memory grow with what a
// peer chooses to send.
package limits

import (
	"errors"
	"fmt"
	"time"
)

// Limits are the collector's bounds. NewDefaults holds the defaults; a
// zero field is invalid (Validate), so an operator cannot switch a limit
// off by accident.
type Limits struct {
	// HelloTimeout is how long a Sync stream may take to send its hello.
	HelloTimeout time.Duration `koanf:"hello_timeout"`
	// HandshakeTimeout bounds a new connection's handshake (TLS and
	// HTTP/2 preface).
	HandshakeTimeout time.Duration `koanf:"handshake_timeout"`
	// MaxConnections caps open connections; MaxConnectionsPerIP caps them
	// per peer address. Excess connections are closed at accept.
	MaxConnections      int `koanf:"max_connections"`
	MaxConnectionsPerIP int `koanf:"max_connections_per_ip"`
	// MaxStreamsPerConnection is HTTP/2 MAX_CONCURRENT_STREAMS.
	MaxStreamsPerConnection int `koanf:"max_streams_per_connection"`
	// MaxRecvMsgBytes and MaxSendMsgBytes bound one gRPC message.
	MaxRecvMsgBytes int `koanf:"max_recv_msg_bytes"`
	MaxSendMsgBytes int `koanf:"max_send_msg_bytes"`
	// MaxDeltasPerBatch bounds the deltas of one message (agents send at
	// most 1,000), MaxFactsPerSnapshot the facts of one bucket snapshot
	// message; both are checked on the wire, before decoding.
	MaxDeltasPerBatch   int `koanf:"max_deltas_per_batch"`
	MaxFactsPerSnapshot int `koanf:"max_facts_per_snapshot"`
	// MaxPendingSnapshotBytes bounds the wire bytes of unfinished bucket
	// snapshots one stream holds; MaxPendingSnapshotBytesTotal across all
	// streams.
	MaxPendingSnapshotBytes      int64 `koanf:"max_pending_snapshot_bytes"`
	MaxPendingSnapshotBytesTotal int64 `koanf:"max_pending_snapshot_bytes_total"`
	// MaxFactsPerHost is the quota of current facts of one host.
	MaxFactsPerHost uint64 `koanf:"max_facts_per_host"`
	// MaxCoverageConditions and MaxCoverageBytes bound a host's coverage
	// record, which is rewritten with every commit for the host.
	MaxCoverageConditions int `koanf:"max_coverage_conditions"`
	MaxCoverageBytes      int `koanf:"max_coverage_bytes"`
	// MaxWatchStreams caps concurrent WatchDrift streams; a watcher whose
	// send has not completed in WatchSendTimeout is dropped with a resume
	// cursor.
	MaxWatchStreams  int           `koanf:"max_watch_streams"`
	WatchSendTimeout time.Duration `koanf:"watch_send_timeout"`
	// MaxListFactsPage is the largest ListFacts page_size.
	MaxListFactsPage int `koanf:"max_list_facts_page"`
}

// Protocol bounds that no operator should need to change.
const (
	// MaxHostIDBytes bounds a host id (a DNS name is at most 253).
	MaxHostIDBytes = 253
	// MaxKeyBytes bounds a fact key (PATH_MAX is 4096).
	MaxKeyBytes = 8192
	// MaxLabels, MaxLabelKeyBytes and MaxLabelValueBytes bound a hello's
	// labels.
	MaxLabels          = 64
	MaxLabelKeyBytes   = 128
	MaxLabelValueBytes = 1024
	// MaxHostInfoFieldBytes bounds each HostInfo string.
	MaxHostInfoFieldBytes = 256
	// MaxContentDiffBytes bounds the diff of one file change
	// (FileAttrs.content); agents send at most 16 KiB.
	MaxContentDiffBytes = 64 << 10
	// MaxCoverageFieldBytes bounds a coverage condition's source and
	// reason; its detail (often a path) may be MaxKeyBytes.
	MaxCoverageFieldBytes = 256
	// MaxPackageChangePaths and MaxPackageChangeBytes bound the package
	// change a delta carries (its paths, and its encoded size), twice what
	// agents send (pkgfact.DefaultLimits, state.MaxPackageChangeBytes);
	// MaxPackageChangeFieldBytes bounds its package, version and manager
	// strings. A change past them is dropped, the delta kept.
	MaxPackageChangePaths      = 4096
	MaxPackageChangeBytes      = 1 << 20
	MaxPackageChangeFieldBytes = 1024
	// DefaultListFactsPage is ListFacts' page size when none is asked for.
	DefaultListFactsPage = 10000
	// MaxListFactsPageBytes bounds a ListFacts page's encoded facts, so a
	// page of long keys stays under the send limit.
	MaxListFactsPageBytes = 16 << 20
)

// NewDefaults returns the default limits: far above what real agents and
// operators send, far below what hurts a collector.
func NewDefaults() Limits {
	return Limits{
		HelloTimeout:                 10 * time.Second,
		HandshakeTimeout:             10 * time.Second,
		MaxConnections:               10000,
		MaxConnectionsPerIP:          64,
		MaxStreamsPerConnection:      32,
		MaxRecvMsgBytes:              4 << 20,
		MaxSendMsgBytes:              64 << 20,
		MaxDeltasPerBatch:            10000,
		MaxFactsPerSnapshot:          10000,
		MaxPendingSnapshotBytes:      16 << 20,
		MaxPendingSnapshotBytesTotal: 64 << 20,
		MaxFactsPerHost:              5_000_000,
		MaxCoverageConditions:        1000,
		MaxCoverageBytes:             256 << 10,
		MaxWatchStreams:              64,
		WatchSendTimeout:             10 * time.Second,
		MaxListFactsPage:             100000,
	}
}

// Validate reports limits that are zero or negative, or inconsistent.
func (l Limits) Validate() error {
	var errs []error
	pos := func(name string, v int64) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("limits.%s %d: must be positive", name, v))
		}
	}
	pos("hello_timeout", int64(l.HelloTimeout))
	pos("handshake_timeout", int64(l.HandshakeTimeout))
	pos("max_connections", int64(l.MaxConnections))
	pos("max_connections_per_ip", int64(l.MaxConnectionsPerIP))
	pos("max_streams_per_connection", int64(l.MaxStreamsPerConnection))
	pos("max_recv_msg_bytes", int64(l.MaxRecvMsgBytes))
	pos("max_send_msg_bytes", int64(l.MaxSendMsgBytes))
	pos("max_deltas_per_batch", int64(l.MaxDeltasPerBatch))
	pos("max_facts_per_snapshot", int64(l.MaxFactsPerSnapshot))
	pos("max_pending_snapshot_bytes", l.MaxPendingSnapshotBytes)
	pos("max_pending_snapshot_bytes_total", l.MaxPendingSnapshotBytesTotal)
	pos("max_facts_per_host", int64(min(l.MaxFactsPerHost, 1<<62)))
	pos("max_coverage_conditions", int64(l.MaxCoverageConditions))
	pos("max_coverage_bytes", int64(l.MaxCoverageBytes))
	pos("max_watch_streams", int64(l.MaxWatchStreams))
	pos("watch_send_timeout", int64(l.WatchSendTimeout))
	pos("max_list_facts_page", int64(l.MaxListFactsPage))
	if l.MaxRecvMsgBytes > 0 && l.MaxRecvMsgBytes < 2<<20 {
		errs = append(errs, fmt.Errorf("limits.max_recv_msg_bytes %d: agents send messages of up to 1 MiB; want at least 2 MiB", l.MaxRecvMsgBytes))
	}
	if l.MaxStreamsPerConnection > 1<<16 {
		errs = append(errs, fmt.Errorf("limits.max_streams_per_connection %d: at most 65536", l.MaxStreamsPerConnection))
	}
	if l.MaxPendingSnapshotBytesTotal < l.MaxPendingSnapshotBytes {
		errs = append(errs, errors.New("limits.max_pending_snapshot_bytes_total is below max_pending_snapshot_bytes"))
	}
	return errors.Join(errs...)
}
