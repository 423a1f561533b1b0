package state

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the agent's state and spool.
type Metrics struct {
	SpoolDepth  prometheus.Gauge
	SpoolBytes  prometheus.Gauge
	Spooled     prometheus.Counter
	Acked       prometheus.Counter
	Compactions prometheus.Counter
	Drops       prometheus.Counter
	Rebuilds    prometheus.Counter
	ApplyErrors prometheus.Counter
	// ContentBytes is the size of the content kept to diff changes.
	ContentBytes prometheus.Gauge
}

// NewMetrics registers the metrics with reg; nil reg keeps them unregistered.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		SpoolDepth:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "plumb_agent_spool_deltas", Help: "Deltas in the spool, not yet acknowledged by the collector."}),
		SpoolBytes:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "plumb_agent_spool_bytes", Help: "Bytes of deltas in the spool."}),
		Spooled:      prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_agent_deltas_spooled_total", Help: "Deltas written to the spool."}),
		Acked:        prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_agent_deltas_acked_total", Help: "Spooled deltas the collector acknowledged."}),
		Compactions:  prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_agent_spool_compactions_total", Help: "Times the spool hit its limit and was compacted."}),
		Drops:        prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_agent_spool_drops_total", Help: "Times the spool was dropped after compaction was not enough (a resync follows)."}),
		Rebuilds:     prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_agent_state_rebuilds_total", Help: "Times an unreadable state database was set aside and rebuilt."}),
		ApplyErrors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "plumb_agent_state_write_errors_total", Help: "Failed writes to the state database (e.g. disk full); retried."}),
		ContentBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "plumb_agent_kept_content_bytes", Help: "Bytes of file content kept to show the next change as a diff."}),
	}
	if reg != nil {
		reg.MustRegister(m.SpoolDepth, m.SpoolBytes, m.Spooled, m.Acked, m.Compactions, m.Drops, m.Rebuilds, m.ApplyErrors, m.ContentBytes)
	}
	return m
}

func (m *Metrics) setSpool(n int, bytes int64) {
	m.SpoolDepth.Set(float64(n))
	m.SpoolBytes.Set(float64(bytes))
}
