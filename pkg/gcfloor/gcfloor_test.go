package gcfloor

import (
	"os"
	"runtime"
	"runtime/metrics"
	"testing"
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

var sink []byte

// cyclesWhileAllocating counts the collections while 256 MiB of garbage
// is allocated, with a live heap of a few MiB, and returns the highest
// heap goal meanwhile.
func cyclesWhileAllocating() (uint32, uint64) {
	var before, after runtime.MemStats
	goal := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	var most uint64
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 4096 {
		sink = make([]byte, 64<<10)
		if i%64 == 0 {
			metrics.Read(goal)
			most = max(most, goal[0].Value.Uint64())
		}
	}
	runtime.ReadMemStats(&after)
	return after.NumGC - before.NumGC, most
}

// TestFloorMakesCollectionsRarer checks the floor against the runtime's
// own count of collections: with a 64 MiB floor, allocating 256 MiB takes
// a handful of them; without, GOGC=100 and a live heap of a few MiB take
// dozens. The heap goal stays at the floor, not past it: the runtime's
// minimum goal grows with GOGC. Stop puts GOGC back.
func TestFloorMakesCollectionsRarer(t *testing.T) {
	unsetGOGC(t)
	base := gogc(t)
	without, _ := cyclesWhileAllocating()

	const floor = 64 << 20
	f := Set(floor)
	with, goal := cyclesWhileAllocating()
	during := gogc(t)
	f.Stop()

	t.Logf("collections while allocating 256 MiB: %d without a floor, %d with a 64 MiB floor (GOGC %d, heap goal at most %.1f MiB)",
		without, with, during, float64(goal)/(1<<20))
	if during <= base {
		t.Errorf("GOGC with a 64 MiB floor over a small live heap: %d, want above %d", during, base)
	}
	if goal > floor+floor/8 {
		t.Errorf("heap goal rose to %.1f MiB with a %d MiB floor and a small live heap", float64(goal)/(1<<20), floor>>20)
	}
	if with*3 > without {
		t.Errorf("%d collections with a 64 MiB floor, %d without: want at most a third", with, without)
	}
	if got := gogc(t); got != base {
		t.Errorf("GOGC after Stop: %d, want %d as before", got, base)
	}
	// Stopped, it stays stopped: the next collections leave GOGC alone.
	runtime.GC()
	runtime.GC()
	if got := gogc(t); got != base {
		t.Errorf("GOGC two collections after Stop: %d, want %d", got, base)
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
