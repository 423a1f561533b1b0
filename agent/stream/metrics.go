package stream

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the agent's stream to the collector.
type Metrics struct {
	Connected prometheus.Gauge
	// Collector is 1 for the configured address streamed to; its labels
	// are the configured addresses, so its cardinality is the list's.
	Collector        *prometheus.GaugeVec
	Reconnects       prometheus.Counter
	Failovers        prometheus.Counter
	AckTimeouts      prometheus.Counter
	DeltasSent       prometheus.Counter
	BytesSent        prometheus.Counter
	Resyncs          prometheus.Counter
	ResyncBuckets    prometheus.Counter
	DigestMismatches prometheus.Counter
	Refused          prometheus.Counter
}

// NewMetrics registers the metrics with reg; nil keeps them unregistered.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "plumb_agent_connected", Help: "1 while a stream to the collector is open."}),
		Collector: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "plumb_agent_collector_connected",
			Help: "1 for the configured collector address the agent streams to, 0 for the others."}, []string{"address"}),
		Reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_agent_reconnects_total", Help: "Stream sessions that ended and were retried."}),
		Failovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_agent_failovers_total",
			Help: "Sessions opened with a collector endpoint other than the one streamed to before."}),
		AckTimeouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_agent_ack_timeouts_total",
			Help: "Sessions ended because the collector left deltas unacknowledged past the ack timeout."}),
		DeltasSent:       prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_agent_deltas_sent_total", Help: "Deltas sent (resends after a reconnect count again)."}),
		BytesSent:        prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_agent_stream_bytes_sent_total", Help: "Protobuf bytes sent on the stream."}),
		Resyncs:          prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_agent_resyncs_total", Help: "Bucket resyncs performed."}),
		ResyncBuckets:    prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_agent_resync_buckets_total", Help: "Buckets sent in resyncs."}),
		DigestMismatches: prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_agent_digest_mismatches_total", Help: "Times the collector's set digest differed from the agent's when idle."}),
		Refused:          prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_agent_collector_messages_refused_total", Help: "Collector messages refused as out of range (each ends the session)."}),
	}
	if reg != nil {
		reg.MustRegister(m.Connected, m.Collector, m.Reconnects, m.Failovers, m.AckTimeouts, m.DeltasSent, m.BytesSent,
			m.Resyncs, m.ResyncBuckets, m.DigestMismatches, m.Refused)
	}
	return m
}

// addCollectors creates the per-address series at zero.
func (m *Metrics) addCollectors(addrs []string) {
	for _, a := range addrs {
		m.Collector.WithLabelValues(a)
	}
}
