package kernel

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
)

var _ source.Source = (*Source)(nil)

// Source polls kernel state under a host root.
type Source struct {
	log    *slog.Logger
	cfg    Config
	root   string
	ignore []string // DefaultSysctlIgnore and the configured extras
}

// Run reports a snapshot of the kernel state, then polls every interval
// and reports what changed, until ctx ends. If the first poll fails (no
// /proc under the root) it returns the error, to be restarted; a later
// failure keeps the last state and opens a coverage condition until a poll
// succeeds again.
func (s *Source) Run(ctx context.Context, sink source.Sink) error {
	start := time.Now()
	cur, err := poll(s.log, s.root, s.cfg.SysctlPrefixes, s.ignore, start.UnixNano())
	if err != nil {
		return err
	}
	snapshot(sink, cur)
	sink.Ready()
	s.log.Debug("kernel snapshot done", "facts", len(cur), "duration", time.Since(start))

	proc := filepath.Join(s.root, "proc")
	failing := false
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			next, err := poll(s.log, s.root, s.cfg.SysctlPrefixes, s.ignore, now.UnixNano())
			if err != nil {
				if !failing {
					s.log.Warn("kernel state unreadable; keeping last state", "err", err)
					sink.Coverage(source.Condition{State: plumbv1.CoverageState_COVERAGE_STATE_BLIND, Reason: "unreadable", Detail: proc})
					failing = true
				}
				continue
			}
			if failing {
				sink.Coverage(source.Condition{State: plumbv1.CoverageState_COVERAGE_STATE_OK, Reason: "unreadable", Detail: proc})
				failing = false
			}
			if n := report(sink, cur, next); n > 0 {
				s.log.Debug("kernel state changed", "changes", n)
			}
			cur = next
		}
	}
}
