package reporting

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/store"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

type rig struct {
	t         *testing.T
	st        *store.Bolt
	now       time.Time
	connected map[string]bool
	wakes     int
}

func newRig(t *testing.T, hosts map[string]time.Time) *rig {
	st, err := store.Open(filepath.Join(t.TempDir(), "plumb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	err = st.Update(context.Background(), func(tx store.Tx) error {
		for id, seen := range hosts {
			h := &store.Host{ID: id}
			if !seen.IsZero() {
				h.LastSeen = seen.UnixNano()
			}
			if err := tx.PutHost(h); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, st: st, now: t0, connected: map[string]bool{}}
}

func (r *rig) checker() *Checker {
	return New(r.st, &drift.Engine{Now: func() time.Time { return r.now }}, Options{
		StaleAfter: 10 * time.Minute,
		Connected:  func(h string) bool { return r.connected[h] },
		Notify:     func() { r.wakes++ },
		Now:        func() time.Time { return r.now },
	})
}

// check runs one check at t0+at and returns the reporting items that
// moved, as "host:status".
func (r *rig) check(c *Checker, at time.Duration) map[string]string {
	r.t.Helper()
	r.now = t0.Add(at)
	before := r.items()
	if _, err := c.Check(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	moved := map[string]string{}
	for h, it := range r.items() {
		if b := before[h]; b == nil || b.GetId() != it.GetId() || b.GetStatus() != it.GetStatus() {
			moved[h] = it.GetStatus().String()
		}
	}
	return moved
}

func (r *rig) items() map[string]*plumbv1.DriftItem {
	out := map[string]*plumbv1.DriftItem{}
	err := r.st.View(context.Background(), func(tx store.ReadTx) error {
		return tx.DriftItems("", true, func(it *plumbv1.DriftItem) error {
			out[it.GetHostId()] = it
			return nil
		})
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

func (r *rig) setSeen(host string, at time.Time) {
	err := r.st.Update(context.Background(), func(tx store.Tx) error {
		h, err := tx.Host(host)
		if err != nil {
			return err
		}
		h.LastSeen = at.UnixNano()
		return tx.PutHost(h)
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

const (
	open     = "DRIFT_STATUS_OPEN"
	resolved = "DRIFT_STATUS_RESOLVED"
)

func want(t *testing.T, what string, got map[string]string, wantMoves map[string]string) {
	t.Helper()
	if len(got) != len(wantMoves) {
		t.Errorf("%s: moved %v, want %v", what, got, wantMoves)
		return
	}
	for h, s := range wantMoves {
		if got[h] != s {
			t.Errorf("%s: moved %v, want %v", what, got, wantMoves)
			return
		}
	}
}

func TestStaleHostsRaisedAndResolved(t *testing.T) {
	r := newRig(t, map[string]time.Time{
		"old":    t0.Add(-time.Hour),   // silent since before the collector started
		"recent": t0.Add(-time.Minute), // reported just before
		"never":  {},                   // a record without a report (a quarantine)
		"idle":   t0.Add(-time.Hour),   // a live stream that says nothing
	})
	r.connected["idle"] = true
	c := r.checker()
	if c.Interval() != time.Minute {
		t.Errorf("interval %v, want a quarter of 10m, at most 1m", c.Interval())
	}

	want(t, "at start", r.check(c, 0), nil)
	// "old" has not reported for an hour, but the collector started 5
	// minutes ago: it may just not have reconnected yet.
	want(t, "within the grace period", r.check(c, 5*time.Minute), nil)
	want(t, "after it", r.check(c, 10*time.Minute), map[string]string{"old": open, "recent": open})
	if r.wakes != 1 {
		t.Errorf("%d wakes, want 1", r.wakes)
	}
	it := r.items()["old"]
	if d := it.GetCurrent().GetValue().GetValue(); d != "no report since 2026-11-29T11:00:00Z (stale after 10m0s)" {
		t.Errorf("detail %q", d)
	}
	if it.GetSeverity() != plumbv1.Severity_SEVERITY_WARNING || it.GetKind() != plumbv1.FactKind_FACT_KIND_HEALTH {
		t.Errorf("item %v", it)
	}
	want(t, "still stale", r.check(c, 11*time.Minute), nil)

	// "recent" reports again (without a hello the check resolves it).
	r.setSeen("recent", t0.Add(12*time.Minute))
	want(t, "reported again", r.check(c, 12*time.Minute), map[string]string{"recent": resolved})
	r.connected["recent"] = true

	// A restart: the open item stays open through the new grace period.
	r.now = t0.Add(20 * time.Minute)
	c = r.checker()
	want(t, "after a restart", r.check(c, 21*time.Minute), nil)
	if r.items()["old"].GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_OPEN {
		t.Error("a restart resolved a stale host")
	}

	// The idle stream ends: the host is judged from when it was last
	// seen streaming, not from its last report an hour before.
	want(t, "idle, streaming", r.check(c, 29*time.Minute), nil)
	r.connected["idle"] = false
	want(t, "idle, just disconnected", r.check(c, 31*time.Minute), nil)
	want(t, "idle, gone for 10m", r.check(c, 39*time.Minute), map[string]string{"idle": open})
	if _, ok := r.items()["never"]; ok {
		t.Error("a host that never streamed was judged")
	}
}

func TestZeroStaleAfterDisables(t *testing.T) {
	r := newRig(t, map[string]time.Time{"old": t0.Add(-time.Hour)})
	c := New(r.st, &drift.Engine{}, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(r.items()) != 0 {
		t.Errorf("items with the check off: %v", r.items())
	}
}

// Two collectors on one database, a host streaming quietly to the first:
// with heartbeats the second, which has no stream of it, never flags it;
// when its stream ends, the second flags it StaleAfter after the last
// heartbeat.
func TestHeartbeatAcrossCollectors(t *testing.T) {
	r := newRig(t, map[string]time.Time{"quiet": t0.Add(-time.Hour)})
	onA := map[string]bool{"quiet": true}
	opts := func(connected map[string]bool) Options {
		return Options{
			StaleAfter: 10 * time.Minute, Heartbeat: true,
			Connected: func(h string) bool { return connected[h] },
			Now:       func() time.Time { return r.now },
		}
	}
	eng := &drift.Engine{Now: func() time.Time { return r.now }}
	a := New(r.st, eng, opts(onA))
	b := New(r.st, eng, opts(map[string]bool{}))
	for at := time.Duration(0); at <= 40*time.Minute; at += time.Minute {
		want(t, fmt.Sprintf("a at %v", at), r.check(a, at), nil)
		want(t, fmt.Sprintf("b at %v", at), r.check(b, at), nil)
	}
	var seen int64
	_ = r.st.View(context.Background(), func(tx store.ReadTx) error {
		h, err := tx.Host("quiet")
		seen = h.LastSeen
		return err
	})
	if seen != t0.Add(40*time.Minute).UnixNano() {
		t.Fatalf("LastSeen %v, want stamped at the last check", time.Unix(0, seen).UTC())
	}
	onA["quiet"] = false // the stream ends
	want(t, "b 9m after the last heartbeat", r.check(b, 49*time.Minute), nil)
	want(t, "b 10m after it", r.check(b, 50*time.Minute), map[string]string{"quiet": open})

	// Without heartbeats the second collector flags the quiet host.
	r2 := newRig(t, map[string]time.Time{"quiet": t0.Add(-time.Hour)})
	b2 := New(r2.st, eng, Options{StaleAfter: 10 * time.Minute, Now: func() time.Time { return r2.now }})
	want(t, "no heartbeat", r2.check(b2, 10*time.Minute), map[string]string{"quiet": open})
}

// With the check off (StaleAfter 0) a collector sharing the store still
// stamps its hosts, and flags nothing.
func TestHeartbeatWithCheckOff(t *testing.T) {
	r := newRig(t, map[string]time.Time{"live": t0.Add(-time.Hour), "gone": t0.Add(-time.Hour)})
	c := New(r.st, &drift.Engine{Now: func() time.Time { return r.now }}, Options{
		Heartbeat: true,
		Connected: func(h string) bool { return h == "live" },
		Now:       func() time.Time { return r.now },
	})
	if c.Interval() != time.Minute {
		t.Errorf("interval %v, want 1m", c.Interval())
	}
	want(t, "check off", r.check(c, time.Hour), nil)
	_ = r.st.View(context.Background(), func(tx store.ReadTx) error {
		for id, want := range map[string]time.Time{"live": t0.Add(time.Hour), "gone": t0.Add(-time.Hour)} {
			h, err := tx.Host(id)
			if err != nil {
				t.Fatal(err)
			}
			if h.LastSeen != want.UnixNano() {
				t.Errorf("%s LastSeen %v, want %v", id, time.Unix(0, h.LastSeen).UTC(), want)
			}
		}
		return nil
	})
}
