package alert

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Delivery results, the values of the result label.
const (
	resultOK      = "ok"      // delivered
	resultRetry   = "retry"   // failed, will be tried again
	resultDropped = "dropped" // failed for good; the notifier moved past it
)

// metrics are the Dispatcher's; every notifier's label values exist from
// the start, at zero, so a rate() over them never misses the first event.
type metrics struct {
	deliveries *prometheus.CounterVec
	seconds    *prometheus.HistogramVec
	pending    *prometheus.GaugeVec
	silenced   *prometheus.CounterVec
	leaseHeld  *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, names []string) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plumb_alert_deliveries_total",
			Help: "Drift events handed to a notifier, by outcome of the attempt: ok, retry (failed, will be tried again) or dropped (failed for good).",
		}, []string{"notifier", "result"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "plumb_alert_delivery_seconds",
			Help:    "Duration of one Notify call (one batch of events), successful or not.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"notifier"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "plumb_alert_pending_events",
			Help: "Events in the log that a notifier has not finished yet (newest event seq minus the notifier's cursor).",
		}, []string{"notifier"}),
		silenced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plumb_alert_silenced_total",
			Help: "Drift events held back from a notifier by a silence or maintenance window (recorded, not sent).",
		}, []string{"notifier"}),
		leaseHeld: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "plumb_alert_lease_held",
			Help: "1 while this collector holds the notifier's lease and delivers it, 0 while another collector sharing the database does (or none can be claimed).",
		}, []string{"notifier"}),
	}
	for _, n := range names {
		for _, r := range []string{resultOK, resultRetry, resultDropped} {
			m.deliveries.WithLabelValues(n, r)
		}
		m.seconds.WithLabelValues(n)
		m.pending.WithLabelValues(n)
		m.silenced.WithLabelValues(n)
		m.leaseHeld.WithLabelValues(n)
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.deliveries, m.seconds, m.pending, m.silenced, m.leaseHeld} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("register alert metrics: %w", err)
	}
	return m, nil
}
