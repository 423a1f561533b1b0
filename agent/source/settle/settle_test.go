package settle

import (
	"testing"
	"time"
)

// wait receives from s.C within d and returns when it fired.
func wait(t *testing.T, s *Timer, d time.Duration) time.Time {
	t.Helper()
	c := s.C()
	if c == nil {
		t.Fatal("C is nil with a change pending")
	}
	select {
	case at := <-c:
		s.Fired()
		return at
	case <-time.After(d):
		t.Fatalf("timer did not fire within %v", d)
		return time.Time{}
	}
}

func TestIdle(t *testing.T) {
	s := New(10*time.Millisecond, 50*time.Millisecond)
	if s.C() != nil {
		t.Error("C is not nil with nothing pending")
	}
	s.Kick()
	s.Stop()
	if s.C() != nil {
		t.Error("C is not nil after Stop")
	}
}

func TestQuietAfterLastKick(t *testing.T) {
	const quiet = 30 * time.Millisecond
	s := New(quiet, time.Hour)
	s.Kick()
	time.Sleep(quiet / 2)
	last := time.Now()
	s.Kick()
	if at := wait(t, s, 10*time.Second); at.Sub(last) < quiet {
		t.Errorf("fired %v after the last kick, want at least %v", at.Sub(last), quiet)
	}
	if s.C() != nil {
		t.Error("C is not nil after Fired")
	}
}

func TestLimitBoundsALongBurst(t *testing.T) {
	const quiet, limit = 40 * time.Millisecond, 100 * time.Millisecond
	s := New(quiet, limit)
	first := time.Now()
	s.Kick()
	// Kick more often than the quiet time: only the limit makes it fire.
	stop := time.After(5 * time.Second)
	for {
		select {
		case at := <-s.C():
			s.Fired()
			if d := at.Sub(first); d < limit {
				t.Errorf("fired %v after the first kick, before the %v limit", d, limit)
			}
			return
		case <-time.After(quiet / 4):
			s.Kick()
		case <-stop:
			t.Fatal("a burst of kicks held the timer off for 5s; the limit is 100ms")
		}
	}
}

func TestAfterIgnoresTheLimit(t *testing.T) {
	const limit = 20 * time.Millisecond
	s := New(5*time.Millisecond, limit)
	s.Kick()
	wait(t, s, 10*time.Second)
	start := time.Now()
	s.After(3 * limit)
	if at := wait(t, s, 10*time.Second); at.Sub(start) < 3*limit {
		t.Errorf("After(%v) fired after %v", 3*limit, at.Sub(start))
	}
}
