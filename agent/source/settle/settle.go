// Package settle owns the timer a source waits on for a burst of changes
// to go quiet before it acts: each change pushes the deadline back by the
// quiet time, but never past a limit after the burst's first change, so a
// long burst (a dpkg run over many packages) is still acted on in time.
package settle

import "time"

// Timer is a settle timer. It is not safe for concurrent use: the loop
// that selects on C owns it.
type Timer struct {
	quiet, limit time.Duration
	t            *time.Timer
	first        time.Time // first change of the pending burst; zero when none
}

// New returns a timer with nothing pending.
func New(quiet, limit time.Duration) *Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &Timer{quiet: quiet, limit: limit, t: t}
}

// Kick notes a change: the timer fires quiet after the latest kick, and
// no later than limit after the first kick since it last fired.
func (s *Timer) Kick() {
	now := s.begin()
	at := now.Add(s.quiet)
	if latest := s.first.Add(s.limit); at.After(latest) {
		at = latest
	}
	s.t.Reset(at.Sub(now))
}

// After makes the timer fire d from now, however long the burst has run:
// a retry after a failed attempt.
func (s *Timer) After(d time.Duration) {
	s.begin()
	s.t.Reset(d)
}

func (s *Timer) begin() time.Time {
	now := time.Now()
	if s.first.IsZero() {
		s.first = now
	}
	return now
}

// C is the channel the timer fires on, or nil when nothing is pending, so
// that a select on it waits forever. After receiving from it, call Fired.
func (s *Timer) C() <-chan time.Time {
	if s.first.IsZero() {
		return nil
	}
	return s.t.C
}

// Fired ends the burst the timer fired for.
func (s *Timer) Fired() { s.first = time.Time{} }

// Stop cancels anything pending.
func (s *Timer) Stop() {
	s.t.Stop()
	s.first = time.Time{}
}
