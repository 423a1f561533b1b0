package file

import "github.com/prometheus/client_golang/prometheus"

// Collectors exposes the source's counters to Prometheus; the source
// runner registers them (see source.MetricsSource).
func (s *Source) Collectors() []prometheus.Collector {
	counter := func(name, help string, v func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v()) })
	}
	return []prometheus.Collector{
		counter("plumb_agent_file_opens_total", "Regular files opened for hashing (the stat fast path avoids most).", s.stats.opens.Load),
		counter("plumb_agent_file_unreadable_total", "Files or directories that could not be read (reported as coverage gaps).", s.stats.unreadable.Load),
		counter("plumb_agent_inotify_overflows_total", "inotify queue overflows, each answered by a rescan of every root.", s.stats.overflows.Load),
		counter("plumb_agent_file_unwatched_dirs_total", "Directories that could not be watched (watch limit) and are polled instead.", s.stats.unwatched.Load),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "plumb_agent_inotify_watches", Help: "Directories watched with inotify now."},
			func() float64 { return float64(s.stats.watches.Load()) }),
	}
}
