package driftstats

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plumb-dev/plumb/collector/store"
)

// MaxGroups bounds the group label values the metrics name: past it, the
// groups with the fewest hosts are summed under OtherGroup, so that what
// agents choose as labels cannot grow the collector's series without
// bound.
const MaxGroups = 50

// OtherGroup is the group label value of the groups past MaxGroups.
const OtherGroup = "_other"

// Metrics serves per-group drift figures to Prometheus, computed from the
// store at most once per Every (a scrape in between gets the last
// figures): per group, never per host, so the series stay few.
type Metrics struct {
	st       store.Store
	groupKey string
	window   time.Duration
	every    time.Duration
	now      func() time.Time

	score, hosts, perDay, mttr, open *prometheus.Desc

	mu   sync.Mutex
	at   time.Time
	last *Fleet
}

// NewMetrics measures groups by host label groupKey over the last window.
func NewMetrics(st store.Store, groupKey string, window time.Duration) *Metrics {
	l := []string{"group"}
	return &Metrics{
		st: st, groupKey: groupKey, window: window, every: time.Minute, now: time.Now,
		score:  prometheus.NewDesc("plumb_collector_group_drift_score", "Open drift items of the group's hosts weighted by severity (critical 10, warning 3, info 1, health 5).", l, nil),
		open:   prometheus.NewDesc("plumb_collector_group_drift_open", "Open drift items of the group's hosts, health included.", l, nil),
		hosts:  prometheus.NewDesc("plumb_collector_group_hosts", "Hosts in the group.", l, nil),
		perDay: prometheus.NewDesc("plumb_collector_group_drift_transitions_per_day", "Drift transitions of the group's hosts per day over the window.", l, nil),
		mttr:   prometheus.NewDesc("plumb_collector_group_drift_mttr_seconds", "Mean time from opening to closing of the group's drift items closed in the window.", l, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.score, m.open, m.hosts, m.perDay, m.mttr} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	f := m.fleet()
	if f == nil {
		return
	}
	for g, s := range bounded(f.Groups) {
		ch <- prometheus.MustNewConstMetric(m.score, prometheus.GaugeValue, float64(s.Score), g)
		ch <- prometheus.MustNewConstMetric(m.open, prometheus.GaugeValue, float64(s.Open), g)
		ch <- prometheus.MustNewConstMetric(m.hosts, prometheus.GaugeValue, float64(s.Hosts), g)
		ch <- prometheus.MustNewConstMetric(m.perDay, prometheus.GaugeValue, s.PerDay(m.window), g)
		ch <- prometheus.MustNewConstMetric(m.mttr, prometheus.GaugeValue, s.MTTR().Seconds(), g)
	}
}

func (m *Metrics) fleet() *Fleet {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if m.last != nil && now.Sub(m.at) < m.every {
		return m.last
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var f *Fleet
	err := m.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		f, err = Compute(tx, "", m.groupKey, now.Add(-m.window), now)
		return err
	})
	if err != nil {
		return m.last // the last figures rather than none
	}
	m.last, m.at = f, now
	return f
}

// bounded returns groups with at most MaxGroups names: the groups with
// the most hosts keep theirs, the rest are summed under OtherGroup.
func bounded(groups map[string]*Stats) map[string]*Stats {
	if len(groups) <= MaxGroups {
		return groups
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := groups[names[i]], groups[names[j]]
		if a.Hosts != b.Hosts {
			return a.Hosts > b.Hosts
		}
		return names[i] < names[j]
	})
	out := make(map[string]*Stats, MaxGroups)
	other := &Stats{}
	for i, g := range names {
		if i < MaxGroups-1 && g != OtherGroup {
			out[g] = groups[g]
		} else {
			other.add(groups[g])
		}
	}
	out[OtherGroup] = other
	return out
}
