package kernel

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/source/gapset"
	"github.com/plumb-dev/plumb/agent/source/snapshot"
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
	for _, kind := range kinds {
		snapshot.Send(sink, source.Scope{Kind: kind}, cur)
	}
	sink.Ready()
	s.log.Debug("kernel snapshot done", "facts", len(cur), "duration", time.Since(start))

	proc := filepath.Join(s.root, "proc")
	gaps := gapset.New(sink)
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			next, err := poll(s.log, s.root, s.cfg.SysctlPrefixes, s.ignore, now.UnixNano())
			if err != nil {
				if gaps.Open(plumbv1.CoverageState_COVERAGE_STATE_BLIND, "unreadable", proc) {
					s.log.Warn("kernel state unreadable; keeping last state", "err", err)
				}
				continue
			}
			gaps.Close("unreadable", proc)
			if n := snapshot.Report(sink, cur, next); n > 0 {
				s.log.Debug("kernel state changed", "changes", n)
			}
			cur = next
		}
	}
}
