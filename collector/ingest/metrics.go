package ingest

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the collector's ingest path.
type Metrics struct {
	Streams          prometheus.Gauge
	DeltasApplied    prometheus.Counter
	CommitDeltas     prometheus.Histogram
	CommitSeconds    prometheus.Histogram
	CommitErrors     prometheus.Counter
	Rejected         prometheus.Counter
	ResyncBuckets    prometheus.Counter
	DigestMismatches prometheus.Counter
	// PackageChangesDropped counts package changes dropped from deltas
	// that were kept (see checkPackageChanges).
	PackageChangesDropped prometheus.Counter
	// StaleStreams counts streams ended because the host's deltas were
	// applied through another stream (another collector) meanwhile.
	StaleStreams prometheus.Counter
}

// NewMetrics registers the metrics with reg; nil keeps them unregistered.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Streams:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "plumb_collector_agent_streams", Help: "Open agent streams."}),
		DeltasApplied: prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_collector_deltas_received_total", Help: "Deltas committed (including duplicates skipped by sequence)."}),
		CommitDeltas: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "plumb_collector_group_commit_deltas", Help: "Deltas per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9)}),
		CommitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "plumb_collector_group_commit_seconds", Help: "Duration of a group commit, fsync included.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 3, 10)}),
		CommitErrors:     prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_collector_commit_errors_total", Help: "Failed commits (e.g. disk full); agents retry."}),
		Rejected:         prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_collector_rejected_messages_total", Help: "Agent messages rejected as malformed."}),
		ResyncBuckets:    prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_collector_resync_buckets_total", Help: "Buckets replaced by agent resyncs."}),
		DigestMismatches: prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_collector_digest_mismatches_total", Help: "Checkpoints whose set digest disagreed with the collector's."}),
		PackageChangesDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_collector_package_changes_dropped_total",
			Help: "Package changes dropped from agent deltas as malformed or over their limits; the deltas were applied."}),
		StaleStreams: prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_collector_stale_streams_total",
			Help: "Agent streams told to reconnect and resume because the host's deltas were applied through another stream (another collector sharing the database) meanwhile; nothing of their job was applied."}),
	}
	if reg != nil {
		reg.MustRegister(m.Streams, m.DeltasApplied, m.CommitDeltas, m.CommitSeconds, m.CommitErrors, m.Rejected, m.ResyncBuckets, m.DigestMismatches, m.PackageChangesDropped, m.StaleStreams)
	}
	return m
}
