package limits

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Names of limits, the label values of plumb_collector_limit_rejections_total.
const (
	HelloTimeout      = "hello_timeout"
	ConnectionsPerIP  = "connections_per_ip"
	Connections       = "connections"
	DeltasPerBatch    = "deltas_per_batch"
	FactsPerSnapshot  = "facts_per_snapshot"
	PendingSnapshot   = "pending_snapshot_bytes"
	PendingTotal      = "pending_snapshot_bytes_total"
	SeqWindow         = "seq_window"
	FactsPerHost      = "facts_per_host"
	Labels            = "labels"
	HostInfo          = "host_info"
	HostID            = "host_id"
	Coverage          = "coverage"
	WatchStreams      = "watch_streams"
	WatchSlow         = "watch_slow"
	ListFactsPageSize = "list_facts_page_size"
	ListPageSize      = "list_page_size"
	RecvMsgBytes      = "recv_msg_bytes"
	// FleetScans counts fleet comparisons refused while another runs.
	FleetScans = "fleet_scans"
	// Content counts content changes cut or dropped, not refused: the
	// fact they came with is applied.
	Content = "content"
)

var all = []string{HelloTimeout, ConnectionsPerIP, Connections, DeltasPerBatch, FactsPerSnapshot,
	PendingSnapshot, PendingTotal, SeqWindow, FactsPerHost, Labels, HostInfo, HostID, Coverage, WatchStreams,
	WatchSlow, ListFactsPageSize, ListPageSize, RecvMsgBytes, Content, FleetScans}

// Metrics counts refusals by limit. A nil *Metrics counts nothing.
type Metrics struct {
	rejections *prometheus.CounterVec
}

// NewMetrics registers the counter with reg (nil: unregistered), every
// limit's series created at zero.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "plumb_collector_limit_rejections_total",
		Help: "Connections, streams and messages refused because they exceeded a limit, by limit.",
	}, []string{"limit"})}
	for _, l := range all {
		m.rejections.WithLabelValues(l)
	}
	if reg != nil {
		reg.MustRegister(m.rejections)
	}
	return m
}

// Reject counts one refusal by limit.
func (m *Metrics) Reject(limit string) {
	if m != nil {
		m.rejections.WithLabelValues(limit).Inc()
	}
}

// Rejected returns the count of refusals by limit, for tests.
func (m *Metrics) Rejected(limit string) float64 {
	if m == nil {
		return 0
	}
	var d dto.Metric
	if err := m.rejections.WithLabelValues(limit).Write(&d); err != nil {
		return 0
	}
	return d.GetCounter().GetValue()
}

// Refuse counts a refusal and returns its status: code, with a message
// that names the limit so an operator can find it in the config.
func (m *Metrics) Refuse(code codes.Code, limit string, format string, args ...any) error {
	m.Reject(limit)
	return status.Errorf(code, "limit %s: "+format, append([]any{limit}, args...)...)
}
