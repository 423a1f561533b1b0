package silence

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// WindowConfig is one entry of the collector's `maintenance:` list: a
// recurring window during which matching drift is recorded but not sent.
type WindowConfig struct {
	// Name names the window in logs, silence ids and summaries.
	Name string `koanf:"name"`
	// Schedule is when each occurrence starts: five cron fields (minute
	// hour day-of-month month day-of-week) or @hourly, @daily, @weekly,
	// @monthly, @yearly.
	Schedule string `koanf:"schedule"`
	// Duration is how long each occurrence lasts.
	Duration time.Duration `koanf:"duration"`
	// Timezone is the IANA zone the schedule is read in (default: the
	// collector's local zone).
	Timezone string `koanf:"timezone"`
	// Hosts (globs), Labels, Kind and Key: as for a silence.
	Hosts  []string          `koanf:"hosts"`
	Labels map[string]string `koanf:"labels"`
	Kind   string            `koanf:"kind"`
	Key    string            `koanf:"key"`
	// Reason is shown in summaries (default "maintenance window NAME").
	Reason string `koanf:"reason"`
}

// Window is a parsed WindowConfig. Its occurrences never overlap.
type Window struct {
	Name     string
	Matcher  Matcher
	Duration time.Duration
	Reason   string
	sched    *cron.SpecSchedule
}

// cronParser reads the five standard fields and the fixed descriptors;
// not @every, whose occurrences depend on when it was first read.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// overlapSample is how many occurrences ParseWindows checks for overlap.
const overlapSample = 1000

// ParseWindows parses the `maintenance:` list, reporting every problem of
// every entry at once, each prefixed with its index and name. now anchors
// the overlap check.
func ParseWindows(cfgs []WindowConfig, now time.Time) ([]*Window, error) {
	var (
		out  []*Window
		errs []error
		seen = map[string]int{}
	)
	for i, c := range cfgs {
		w, err := parseWindow(c, now)
		prefix := fmt.Sprintf("maintenance[%d] %q", i, c.Name)
		if j, dup := seen[c.Name]; dup && c.Name != "" {
			errs = append(errs, fmt.Errorf("%s: name already used by maintenance[%d]", prefix, j))
		}
		seen[c.Name] = i
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", prefix, err))
			continue
		}
		out = append(out, w)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func parseWindow(c WindowConfig, now time.Time) (*Window, error) {
	var errs []error
	if err := validName(c.Name); err != nil {
		errs = append(errs, fmt.Errorf("name: %w", err))
	}
	if c.Duration <= 0 || c.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("duration %v: want more than 0 and at most %v", c.Duration, MaxDuration))
	}
	loc := time.Local
	if c.Timezone != "" {
		l, err := time.LoadLocation(c.Timezone)
		if err != nil {
			errs = append(errs, fmt.Errorf("timezone %q: %w", c.Timezone, err))
		} else {
			loc = l
		}
	}
	m := Matcher{Hosts: c.Hosts, Labels: c.Labels, Key: c.Key}
	if c.Kind != "" {
		k, err := fact.ParseKind(c.Kind)
		if err != nil {
			errs = append(errs, fmt.Errorf("kind: %w", err))
		}
		m.Kind = k
	}
	if err := m.Validate(); err != nil {
		errs = append(errs, err)
	}
	reason := c.Reason
	if reason == "" {
		reason = "maintenance window " + c.Name
	}
	if len(reason) > MaxReason {
		errs = append(errs, fmt.Errorf("reason: longer than %d bytes", MaxReason))
	}
	var spec *cron.SpecSchedule
	switch {
	case strings.TrimSpace(c.Schedule) == "":
		errs = append(errs, errors.New(`schedule: required (five cron fields, e.g. "0 2 * * 6" for Saturdays at 02:00)`))
	case strings.Contains(c.Schedule, "TZ="):
		errs = append(errs, errors.New("schedule: give the zone as timezone:, not in the schedule"))
	default:
		s, err := cronParser.Parse(c.Schedule)
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule %q: %w (want five fields: minute hour day-of-month month day-of-week)", c.Schedule, err))
			break
		}
		ss, ok := s.(*cron.SpecSchedule)
		if !ok {
			errs = append(errs, fmt.Errorf("schedule %q: @every is not supported; use five cron fields", c.Schedule))
			break
		}
		ss.Location = loc
		spec = ss
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	w := &Window{Name: c.Name, Matcher: m, Duration: c.Duration, Reason: reason, sched: spec}
	if err := w.checkOverlap(now); err != nil {
		return nil, err
	}
	return w, nil
}

// checkOverlap refuses a schedule that never fires, or whose occurrences
// come closer together than the duration (they would overlap, and an
// overlapping window is one that never ends).
func (w *Window) checkOverlap(now time.Time) error {
	prev := w.sched.Next(now)
	if prev.IsZero() {
		return errors.New("schedule: never occurs")
	}
	for range overlapSample {
		next := w.sched.Next(prev)
		if next.IsZero() {
			return nil
		}
		if gap := next.Sub(prev); gap < w.Duration {
			return fmt.Errorf("duration %v is longer than the %v between occurrences at %s and %s: occurrences would overlap",
				w.Duration, gap, prev.Format(time.RFC3339), next.Format(time.RFC3339))
		}
		prev = next
	}
	return nil
}

// occurrenceAt returns the start of the occurrence in force at t: the
// latest start s with t-Duration < s <= t.
func (w *Window) occurrenceAt(t time.Time) (time.Time, bool) {
	s := w.sched.Next(t.Add(-w.Duration))
	if s.IsZero() || s.After(t) {
		return time.Time{}, false
	}
	return s, true
}

// next is the start of the first occurrence after t.
func (w *Window) next(t time.Time) time.Time { return w.sched.Next(t) }

// occurrenceID names the occurrence starting at start.
func (w *Window) occurrenceID(start time.Time) string {
	return "mw-" + w.Name + "-" + start.UTC().Format("20060102T1504Z")
}

// occurrence is the silence record of the occurrence starting at start.
func (w *Window) occurrence(start, now time.Time) *store.Silence {
	return &store.Silence{
		ID: w.occurrenceID(start), Hosts: w.Matcher.Hosts, Labels: w.Matcher.Labels,
		Kind: int32(w.Matcher.Kind), Key: w.Matcher.Key,
		StartsAt: start.UnixNano(), EndsAt: start.Add(w.Duration).UnixNano(),
		Reason: w.Reason, CreatedBy: "maintenance:" + w.Name, CreatedAt: now.UnixNano(), Window: w.Name,
	}
}

// validName keeps window names usable in ids: letters, digits, '.', '_'
// and '-', 1 to 64 bytes.
func validName(name string) error {
	if name == "" || len(name) > 64 {
		return errors.New("want 1 to 64 bytes")
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return fmt.Errorf("may only hold letters, digits, '.', '_' and '-', not %q", r)
		}
	}
	return nil
}

// kindOf converts a stored kind.
func kindOf(k int32) plumbv1.FactKind { return plumbv1.FactKind(k) }
