package source

import "github.com/prometheus/client_golang/prometheus"

type runnerMetrics struct {
	recorded     prometheus.Counter
	batch        prometheus.Histogram
	applyLatency prometheus.Histogram
	snapshots    *prometheus.CounterVec
	failures     *prometheus.CounterVec
}

func newRunnerMetrics(reg prometheus.Registerer, sources map[string]Source, cov *Coverage) *runnerMetrics {
	m := &runnerMetrics{
		recorded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plumb_agent_changes_recorded_total", Help: "Fact changes recorded as deltas."}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "plumb_agent_record_batch_size", Help: "Observations per state transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7)}),
		applyLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "plumb_agent_record_seconds", Help: "Time to record one batch in the state database.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 8)}),
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plumb_agent_source_snapshots_total", Help: "Complete snapshots (scans) per source."}, []string{"source"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plumb_agent_source_failures_total", Help: "Times a source stopped with an error and was restarted."}, []string{"source"}),
	}
	for name := range sources {
		m.snapshots.WithLabelValues(name)
		m.failures.WithLabelValues(name)
	}
	if reg != nil {
		reg.MustRegister(m.recorded, m.batch, m.applyLatency, m.snapshots, m.failures)
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "plumb_agent_coverage_gaps", Help: "Open coverage gaps: parts of the host the agent cannot watch, or sees late."},
			func() float64 { g, _ := cov.Snapshot(); return float64(len(g)) }))
		for _, s := range sources {
			if ms, ok := s.(MetricsSource); ok {
				reg.MustRegister(ms.Collectors()...)
			}
		}
	}
	return m
}
