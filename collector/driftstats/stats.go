// Package driftstats measures how hosts drift: a score of what is open
// now (open items weighted by severity), how often their drift items move
// (transitions per day) and how long an item stays open (mean time to
// resolve), per host and per group (the value of one host label).
package driftstats

import (
	"sort"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// The score's weights: an open item counts by its severity, an open
// health item (a gap in what the collector knows of the host) as 5.
const (
	WeightCritical = 10
	WeightWarning  = 3
	WeightInfo     = 1 // and SEVERITY_UNSPECIFIED
	WeightHealth   = 5
)

// Score is the drift score of a host's open items.
func Score(c *plumbv1.OpenDriftCounts) uint64 {
	return WeightCritical*c.GetCritical() + WeightWarning*c.GetWarning() + WeightInfo*c.GetInfo() + WeightHealth*c.GetHealth()
}

// MaxEvents bounds the events one Compute reads, so that a call stays
// bounded however long the event log: Stats.Truncated says it stopped.
const MaxEvents = 2_000_000

// Stats are one host's or one group's figures over a window.
type Stats struct {
	Hosts int
	// Score is the sum of the hosts' scores.
	Score uint64
	// Open is the number of open items (health included).
	Open uint64
	// Transitions counts drift transitions (opened, updated, resolved,
	// accepted) in the window.
	Transitions uint64
	// Resolved counts items closed (resolved or accepted) in the window,
	// and ResolveNanos sums how long each had been open.
	Resolved     uint64
	ResolveNanos int64
}

// PerDay is s's transitions per day over a window of length d.
func (s *Stats) PerDay(d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(s.Transitions) / (float64(d) / float64(24*time.Hour))
}

// MTTR is the mean time from open to close of the items closed in the
// window; 0 when none closed.
func (s *Stats) MTTR() time.Duration {
	if s.Resolved == 0 {
		return 0
	}
	return time.Duration(s.ResolveNanos / int64(s.Resolved))
}

func (s *Stats) add(o *Stats) {
	s.Hosts += o.Hosts
	s.Score += o.Score
	s.Open += o.Open
	s.Transitions += o.Transitions
	s.Resolved += o.Resolved
	s.ResolveNanos += o.ResolveNanos
}

// Fleet is Compute's result.
type Fleet struct {
	Since, Until time.Time
	// Hosts by host id; Groups by the value of the group label ("" for
	// hosts without it).
	Hosts     map[string]*Stats
	Groups    map[string]*Stats
	Truncated bool
}

// GroupIDs returns the group names in order.
func (f *Fleet) GroupIDs() []string {
	ids := make([]string, 0, len(f.Groups))
	for g := range f.Groups {
		ids = append(ids, g)
	}
	sort.Strings(ids)
	return ids
}

// Compute measures every host (only host when it is not "") over the
// window [since, until), grouping hosts by their label groupKey.
func Compute(tx store.ReadTx, host, groupKey string, since, until time.Time) (*Fleet, error) {
	f := &Fleet{Since: since, Until: until, Hosts: map[string]*Stats{}, Groups: map[string]*Stats{}}
	group := map[string]string{}
	visit := func(h *store.Host) error {
		c, err := tx.OpenDriftCounts(h.ID)
		if err != nil {
			return err
		}
		f.Hosts[h.ID] = &Stats{Hosts: 1, Score: Score(c), Open: c.GetCritical() + c.GetWarning() + c.GetInfo() + c.GetHealth()}
		group[h.ID] = h.Labels[groupKey]
		return nil
	}
	if host != "" {
		h, err := tx.Host(host)
		if err != nil {
			return nil, err
		}
		if err := visit(h); err != nil {
			return nil, err
		}
	} else if err := tx.Hosts(visit); err != nil {
		return nil, err
	}
	lo, hi := since.UnixNano(), until.UnixNano()
	var after uint64
	read := 0
	for {
		evs, err := tx.EventsAfter(after, 1024)
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			after = ev.GetSeq()
			it := ev.GetItem()
			s := f.Hosts[it.GetHostId()]
			if s == nil || ev.GetAtUnixNano() < lo || ev.GetAtUnixNano() >= hi {
				continue
			}
			switch ev.GetType() {
			case plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED, plumbv1.DriftEventType_DRIFT_EVENT_TYPE_UPDATED:
				s.Transitions++
			case plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED, plumbv1.DriftEventType_DRIFT_EVENT_TYPE_ACCEPTED:
				s.Transitions++
				if d := ev.GetAtUnixNano() - it.GetDetectedUnixNano(); it.GetDetectedUnixNano() > 0 && d >= 0 {
					s.Resolved++
					s.ResolveNanos += d
				}
			}
		}
		if read += len(evs); read >= MaxEvents {
			f.Truncated = true
			break
		}
	}
	for id, s := range f.Hosts {
		g := f.Groups[group[id]]
		if g == nil {
			g = &Stats{}
			f.Groups[group[id]] = g
		}
		g.add(s)
	}
	return f, nil
}
