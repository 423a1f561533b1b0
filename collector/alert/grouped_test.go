package alert_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/alert"
	"github.com/plumb-dev/plumb/collector/store"
)

// groupRecorder is a GroupNotifier that fails some calls (retryable) and
// records the groups it accepted.
type groupRecorder struct {
	mu     sync.Mutex
	rng    *rand.Rand
	fail   float64
	groups map[string][]uint64 // key -> seqs of the events, as delivered
	order  []string
}

func (r *groupRecorder) Name() string { return "grouper" }

func (r *groupRecorder) Notify(context.Context, []*plumbv1.DriftEvent) (bool, error) {
	return false, errors.New("grouping notifier called per event")
}

func (r *groupRecorder) NotifyGroup(_ context.Context, g *alert.Group) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rng.Float64() < r.fail {
		return true, errors.New("receiver down")
	}
	var seqs []uint64
	for _, ev := range g.Events {
		seqs = append(seqs, ev.GetSeq())
	}
	if prev, ok := r.groups[g.Key]; ok {
		if !slices.Equal(prev, seqs) {
			return false, fmt.Errorf("key %s delivered twice with different events: %v then %v", g.Key, prev, seqs)
		}
		return false, nil
	}
	r.groups[g.Key] = seqs
	r.order = append(r.order, g.Key)
	return false, nil
}

func (r *groupRecorder) delivered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.groups {
		n += len(s)
	}
	return n
}

// timedEvent is an event at a time, of a severity.
type timedEvent struct {
	at       int64
	critical bool
}

// referenceWindows applies the documented rules of alert.Grouping to
// events, independently of the package's own code: a window opens at its
// first event, closes group_wait later but not before group_interval after
// the previous close, no later than critical_wait after a critical event,
// and at max_events.
func referenceWindows(g alert.Grouping, evs []timedEvent) [][]int {
	var out [][]int
	var cur []int
	var end, prevEnd int64
	for i, e := range evs {
		if len(cur) > 0 && (e.at >= end || len(cur) >= g.MaxEvents) {
			out = append(out, cur)
			cur, prevEnd = nil, end
		}
		if len(cur) == 0 {
			end = e.at + int64(g.Wait)
			if prevEnd != 0 && prevEnd+int64(g.Interval) > end {
				end = prevEnd + int64(g.Interval)
			}
		}
		if e.critical && e.at+int64(g.CriticalWait) < end {
			end = e.at + int64(g.CriticalWait)
		}
		cur = append(cur, i)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// Events far in the past are grouped into the same windows the rules
// give, whatever the receiver's failures and however often the
// dispatcher restarts in between; each window reaches the receiver
// under one key, each event in exactly one window.
func TestGroupingWindowsAreTheLogsAcrossRestarts(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	g := alert.Grouping{Wait: 2 * time.Second, Interval: 5 * time.Second, CriticalWait: 300 * time.Millisecond, MaxEvents: 7}

	var evs []timedEvent
	at := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC).UnixNano()
	for range 300 {
		at += rng.Int64N(int64(1500 * time.Millisecond))
		if rng.IntN(20) == 0 {
			at += int64(10 * time.Second) // a quiet spell
		}
		evs = append(evs, timedEvent{at: at, critical: rng.IntN(15) == 0})
	}
	data := newMemData()
	st := data.open()
	var seqs []uint64
	err := st.Update(context.Background(), func(tx store.Tx) error {
		for i, e := range evs {
			ev := event(fmt.Sprintf("e%03d", i))
			ev.AtUnixNano = e.at
			ev.Item.Id = fmt.Sprintf("item-%03d", i)
			if e.critical {
				ev.Item.Severity = plumbv1.Severity_SEVERITY_CRITICAL
			}
			if err := tx.AppendEvent(ev); err != nil {
				return err
			}
			seqs = append(seqs, ev.GetSeq())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Known before the events came, so it starts at the first.
	data.cursors["notifier/grouper/registered"] = ^uint64(0)

	rec := &groupRecorder{rng: rand.New(rand.NewPCG(uint64(seed), 8)), fail: 0.3, groups: map[string][]uint64{}}
	n, err := alert.Grouped(rec, g)
	if err != nil {
		t.Fatal(err)
	}
	for restarts := 0; rec.delivered() < len(evs); restarts++ {
		if restarts > 200 {
			t.Fatalf("after %d restarts only %d of %d events delivered", restarts, rec.delivered(), len(evs))
		}
		d, err := alert.NewDispatcher(data.open(), []alert.Notifier{n}, testOptions(nil))
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, d)
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		stop()
	}

	want := referenceWindows(g, evs)
	var wantKeys []string
	for _, w := range want {
		wantKeys = append(wantKeys, fmt.Sprintf("g%d-%d", seqs[w[0]], seqs[w[len(w)-1]]))
	}
	if !slices.Equal(rec.order, wantKeys) {
		t.Fatalf("delivered windows\n%s\nwant\n%s", strings.Join(rec.order, " "), strings.Join(wantKeys, " "))
	}
	for i, w := range want {
		var ws []uint64
		for _, j := range w {
			ws = append(ws, seqs[j])
		}
		if got := rec.groups[wantKeys[i]]; !slices.Equal(got, ws) {
			t.Fatalf("window %s holds %v, want %v", wantKeys[i], got, ws)
		}
	}
	if c := data.cursor("notifier/grouper"); c != seqs[len(seqs)-1] {
		t.Fatalf("cursor %d, want %d", c, seqs[len(seqs)-1])
	}
}
