package auth

import "github.com/prometheus/client_golang/prometheus"

// Metrics count what authentication refused and issued.
type Metrics struct {
	// Denied counts refused calls and streams by reason.
	Denied *prometheus.CounterVec
	// Issued counts certificates issued, by "enroll" or "renew".
	Issued *prometheus.CounterVec
	// Clashes counts another key presenting itself as an enrolled host.
	Clashes prometheus.Counter
}

// NewMetrics registers the metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plumb_collector_auth_denied_total",
			Help: "Calls and agent streams refused, by reason.",
		}, []string{"reason"}),
		Issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plumb_collector_certificates_issued_total",
			Help: "Client certificates issued to agents, by enroll or renew.",
		}, []string{"how"}),
		Clashes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plumb_collector_identity_clashes_total",
			Help: "Times a key other than a host's enrolled one tried to enroll or stream as that host (cloned VMs, reused host ids).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Denied, m.Issued, m.Clashes)
	}
	return m
}
