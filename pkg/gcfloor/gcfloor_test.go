package gcfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercentFor(t *testing.T) {
	for _, c := range []struct {
		live, floor uint64
		base, want  int
	}{
		{live: 8 << 20, floor: 24 << 20, base: 100, want: 200},
		{live: 4 << 20, floor: 24 << 20, base: 100, want: 500},
		{live: 2 << 20, floor: 24 << 20, base: 100, want: 600},  // the runtime's minimum, 4 MiB × 6, is the floor
		{live: 20 << 20, floor: 24 << 20, base: 100, want: 100}, // never below base
		{live: 24 << 20, floor: 24 << 20, base: 100, want: 100},
		{live: 64 << 20, floor: 24 << 20, base: 50, want: 50},
		{live: 0, floor: 24 << 20, base: 100, want: 600}, // no figure yet: 1 MiB assumed; capped
		{live: 1 << 10, floor: 1 << 30, base: 100, want: 25600},
		{live: 2 << 20, floor: 24 << 20, base: 800, want: 800}, // never below base
	} {
		if got := percentFor(c.live, c.floor, c.base); got != c.want {
			t.Errorf("percentFor(live %d, floor %d, base %d) = %d, want %d", c.live, c.floor, c.base, got, c.want)
		}
	}
}

// unsetGOGC clears the GOGC variable for the test: with it set, Set
// leaves the runtime alone.
func unsetGOGC(t *testing.T) {
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
}

func gogc(t *testing.T) int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// settledGoal forces a collection and waits for the heap goal to be
// within [lo, hi]: the floor adjusts GOGC from a finalizer, which runs
// soon after the collection, not at once. It returns the last goal.
func settledGoal(lo, hi uint64) uint64 {
	goal := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		for range 100 {
			metrics.Read(goal)
			if g := goal[0].Value.Uint64(); lo <= g && g <= hi || time.Now().After(deadline) {
				return g
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// TestFloorSetsTheHeapGoal checks the runtime's own heap goal: with a
// 64 MiB floor over the small live heap of a test, it is the floor
// (neither less, nor more: the runtime's minimum goal grows with GOGC);
// after Stop, GOGC is back to what it was and stays there.
func TestFloorSetsTheHeapGoal(t *testing.T) {
	unsetGOGC(t)
	base := gogc(t)
	const floor = 64 << 20
	f := Set(floor)
	goal := settledGoal(floor-floor/8, floor+floor/8)
	during := gogc(t)
	f.Stop()
	t.Logf("heap goal with a %d MiB floor: %.1f MiB (GOGC %d)", floor>>20, float64(goal)/(1<<20), during)
	if goal < floor-floor/8 || goal > floor+floor/8 {
		t.Errorf("heap goal %.1f MiB with a %d MiB floor over a small live heap, want the floor", float64(goal)/(1<<20), floor>>20)
	}
	if got := gogc(t); got != base {
		t.Errorf("GOGC after Stop: %d, want %d as before", got, base)
	}
	// Stopped, it stays stopped: the next collections leave GOGC alone.
	goal = settledGoal(0, floor/4)
	if got := gogc(t); got != base || goal > floor/4 {
		t.Errorf("two collections after Stop: GOGC %d, heap goal %.1f MiB; want %d, and the runtime's own goal", got, float64(goal)/(1<<20), base)
	}
}

// TestOperatorGOGCWins: with GOGC set in the environment, Set changes
// nothing.
func TestOperatorGOGCWins(t *testing.T) {
	t.Setenv("GOGC", "100")
	base := gogc(t)
	f := Set(64 << 20)
	runtime.GC()
	runtime.GC()
	if got := gogc(t); got != base {
		t.Errorf("GOGC with the variable set: %d after Set, want %d", got, base)
	}
	f.Stop()
	if got := gogc(t); got != base {
		t.Errorf("GOGC after Stop: %d, want %d", got, base)
	}
}

// TestCollectionOffStaysOff: with GOGC off (SetGCPercent(-1)), Set
// changes nothing, and its Stop does not turn collection back on.
func TestCollectionOffStaysOff(t *testing.T) {
	unsetGOGC(t)
	before := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(before)
	f := Set(64 << 20)
	runtime.GC()
	runtime.GC()
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Errorf("GOGC after Set with collection off: %d, want -1", got)
	}
	f.Stop()
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Errorf("GOGC after Stop with collection off: %d, want -1", got)
	}
}
