package silence

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 3, 7, 1, 0, 0, 0, time.UTC) // a Saturday

func openStore(t *testing.T) (*store.Bolt, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.db")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

func event(host, key string, at time.Time) *plumbv1.DriftEvent {
	return &plumbv1.DriftEvent{
		Id: host + key + at.String(), Type: plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED, AtUnixNano: at.UnixNano(),
		Item: &plumbv1.DriftItem{
			Id: host + ":" + key, HostId: host, Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte(key),
			Severity: plumbv1.Severity_SEVERITY_WARNING,
		},
	}
}

func appendEvents(t *testing.T, st store.Store, evs ...*plumbv1.DriftEvent) {
	t.Helper()
	err := st.Update(context.Background(), func(tx store.Tx) error {
		for _, ev := range evs {
			if err := tx.AppendEvent(ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCreateSilenceExpire(t *testing.T) {
	ctx := context.Background()
	st, _ := openStore(t)
	clk := &clock{t: t0}
	b, err := Open(ctx, st, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Create(ctx, Matcher{Hosts: []string{"web-*"}, Key: "/etc/nginx/**"}, 30*time.Minute, "nginx upgrade", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if s.CreatedBy != "alice" || s.StartsAt != t0.UnixNano() || s.EndsAt != t0.Add(30*time.Minute).UnixNano() {
		t.Errorf("created %+v", s)
	}
	for _, c := range []struct {
		ev   *plumbv1.DriftEvent
		want bool
	}{
		{event("web-1", "/etc/nginx/nginx.conf", t0.Add(time.Minute)), true},
		{event("web-1", "/etc/nginx/nginx.conf", t0.Add(-time.Second)), false}, // before it started
		{event("web-1", "/etc/nginx/nginx.conf", t0.Add(30*time.Minute)), false},
		{event("web-1", "/etc/hosts", t0.Add(time.Minute)), false},
		{event("db-1", "/etc/nginx/nginx.conf", t0.Add(time.Minute)), false},
	} {
		id, got := b.Silenced(c.ev)
		if got != c.want || (got && id != s.ID) {
			t.Errorf("Silenced(%s %s at %v) = %q, %v; want %v", c.ev.GetItem().GetHostId(), c.ev.GetItem().GetKey(),
				time.Unix(0, c.ev.GetAtUnixNano()).Sub(t0), id, got, c.want)
		}
	}
	summary := &plumbv1.DriftEvent{Type: plumbv1.DriftEventType_DRIFT_EVENT_TYPE_SILENCE_ENDED, AtUnixNano: t0.Add(time.Minute).UnixNano()}
	if _, ok := b.Silenced(summary); ok {
		t.Error("a summary event was silenced")
	}

	clk.Add(10 * time.Minute)
	exp, err := b.Expire(ctx, s.ID, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if exp.ExpiredBy != "bob" || exp.ExpiredAt != clk.Now().UnixNano() {
		t.Errorf("expired %+v", exp)
	}
	if _, err := b.Expire(ctx, s.ID, "bob"); !errors.Is(err, ErrEnded) {
		t.Errorf("second expiry: %v, want ErrEnded", err)
	}
	if _, err := b.Expire(ctx, "s-nope", "bob"); !errors.Is(err, ErrNotFound) {
		t.Errorf("expiring a missing silence: %v, want ErrNotFound", err)
	}
	// Judged on the event's own time: inside [start, expiry) still held.
	if _, ok := b.Silenced(event("web-1", "/etc/nginx/a", t0.Add(5*time.Minute))); !ok {
		t.Error("an event from before the expiry is no longer silenced")
	}
	if _, ok := b.Silenced(event("web-1", "/etc/nginx/a", t0.Add(11*time.Minute))); ok {
		t.Error("an event after the expiry is silenced")
	}
	if got := b.List(false); len(got) != 0 {
		t.Errorf("List(false) after expiry: %d silences", len(got))
	}
	if got := b.List(true); len(got) != 1 || got[0].ExpiredBy != "bob" || got[0].CreatedBy != "alice" {
		t.Errorf("List(true) = %+v", got)
	}

	// A restart decides the same.
	b2, err := Open(ctx, st, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Duration{-time.Second, time.Minute, 9 * time.Minute, 11 * time.Minute} {
		ev := event("web-2", "/etc/nginx/x", t0.Add(at))
		_, a := b.Silenced(ev)
		_, c := b2.Silenced(ev)
		if a != c {
			t.Errorf("at %v: before restart %v, after %v", at, a, c)
		}
	}
}

func TestCreateRefuses(t *testing.T) {
	ctx := context.Background()
	st, _ := openStore(t)
	clk := &clock{t: t0}
	b, err := Open(ctx, st, Options{Now: clk.Now, MaxActive: 2})
	if err != nil {
		t.Fatal(err)
	}
	host := Matcher{Hosts: []string{"h"}}
	for _, c := range []struct {
		m      Matcher
		d      time.Duration
		reason string
		want   string
	}{
		{host, time.Hour, "  ", "reason: required"},
		{host, time.Hour, strings.Repeat("r", MaxReason+1), "longer than"},
		{host, 0, "r", "duration"},
		{host, MaxDuration + time.Second, "r", "duration"},
		{Matcher{}, time.Hour, "r", "at least one"},
	} {
		if _, err := b.Create(ctx, c.m, c.d, c.reason, "x"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Create(%v, %v, %.10q) = %v, want ErrInvalid with %q", c.m, c.d, c.reason, err, c.want)
		}
	}
	for range 2 {
		if _, err := b.Create(ctx, host, time.Hour, "r", "x"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Create(ctx, host, time.Hour, "r", "x"); !errors.Is(err, ErrTooMany) {
		t.Errorf("third silence with MaxActive 2: %v, want ErrTooMany", err)
	}
	clk.Add(time.Hour) // both end
	if _, err := b.Create(ctx, host, time.Hour, "r", "x"); err != nil {
		t.Errorf("after the others ended: %v", err)
	}
}

func TestLabelSilence(t *testing.T) {
	ctx := context.Background()
	st, _ := openStore(t)
	if err := st.Update(ctx, func(tx store.Tx) error {
		if err := tx.PutHost(&store.Host{ID: "a", Labels: map[string]string{"env": "prod", "role": "web"}}); err != nil {
			return err
		}
		return tx.PutHost(&store.Host{ID: "b", Labels: map[string]string{"env": "staging", "role": "web"}})
	}); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: t0}
	b, _ := Open(ctx, st, Options{Now: clk.Now})
	if _, err := b.Create(ctx, Matcher{Labels: map[string]string{"env": "prod"}}, time.Hour, "prod freeze", "x"); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Minute)
	for host, want := range map[string]bool{"a": true, "b": false, "unknown": false} {
		if _, got := b.Silenced(event(host, "/etc/x", at)); got != want {
			t.Errorf("host %s: silenced %v, want %v", host, got, want)
		}
	}
}

func TestSummaryWhenExpired(t *testing.T) {
	ctx := context.Background()
	st, _ := openStore(t)
	clk := &clock{t: t0}
	commits := 0
	b, _ := Open(ctx, st, Options{Now: clk.Now, OnCommit: func() { commits++ }})
	s, err := b.Create(ctx, Matcher{Hosts: []string{"web-1"}}, time.Hour, "deploy", "alice")
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, st,
		event("web-1", "/etc/before", t0.Add(-time.Second)), // not held: before
		event("web-1", "/etc/a", t0.Add(time.Minute)),
		event("db-1", "/etc/a", t0.Add(time.Minute)), // not held: other host
		event("web-1", "/etc/a", t0.Add(2*time.Minute)),
		event("web-1", "/etc/b", t0.Add(3*time.Minute)),
	)
	b.tick(ctx) // still in force: nothing
	clk.Add(5 * time.Minute)
	if _, err := b.Expire(ctx, s.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, st, event("web-1", "/etc/after", clk.Now().Add(time.Second))) // not held: after
	b.tick(ctx)                                                                   // within the grace period
	clk.Add(10 * time.Second)
	b.tick(ctx)
	b.tick(ctx) // once only
	var sums []*plumbv1.DriftEvent
	_ = st.View(ctx, func(tx store.ReadTx) error {
		evs, err := tx.EventsAfter(0, 100)
		for _, ev := range evs {
			if ev.GetType() == plumbv1.DriftEventType_DRIFT_EVENT_TYPE_SILENCE_ENDED {
				sums = append(sums, ev)
			}
		}
		return err
	})
	if len(sums) != 1 || commits != 1 {
		t.Fatalf("%d summary events, %d commits; want 1, 1", len(sums), commits)
	}
	sum := sums[0].GetSilenceSummary()
	if sums[0].GetId() != "silence-ended-"+s.ID || sum.GetSilence().GetExpiredBy() != "bob" || sum.GetSilence().GetCreatedBy() != "alice" ||
		sum.GetSilence().GetReason() != "deploy" {
		t.Errorf("summary event %v", sums[0])
	}
	if sum.GetEvents() != 3 || sum.GetItems() != 2 || len(sum.GetHosts()) != 1 || sum.GetHosts()[0].GetEvents() != 3 {
		t.Errorf("summary counts: %v", sum)
	}
	if len(sum.GetHeld()) != 2 || string(sum.GetHeld()[0].GetKey()) != "/etc/a" || sum.GetHeld()[0].GetEvents() != 2 {
		t.Errorf("held items: %v", sum.GetHeld())
	}
	if got := b.List(true); len(got) != 1 || !got[0].Summarized {
		t.Errorf("after the summary: %+v", got)
	}
}

func TestSeqBefore(t *testing.T) {
	ctx := context.Background()
	st, _ := openStore(t)
	var evs []*plumbv1.DriftEvent
	for i := range 100 {
		evs = append(evs, event("h", "/k", t0.Add(time.Duration(i)*time.Second)))
	}
	appendEvents(t, st, evs...)
	_ = st.View(ctx, func(tx store.ReadTx) error {
		for _, c := range []struct {
			at   time.Duration
			want uint64
		}{{-time.Hour, 0}, {0, 0}, {time.Second, 1}, {50 * time.Second, 50}, {99 * time.Second, 99}, {time.Hour, 100}} {
			got, err := seqBefore(tx, t0.Add(c.at).UnixNano())
			if err != nil || got != c.want {
				t.Errorf("seqBefore(t0+%v) = %d, %v; want %d", c.at, got, err, c.want)
			}
		}
		return nil
	})
}

func TestWindows(t *testing.T) {
	ctx := context.Background()
	ws, err := ParseWindows([]WindowConfig{{
		Name: "sat-night", Schedule: "0 2 * * 6", Duration: 2 * time.Hour, Timezone: "UTC",
		Labels: map[string]string{"env": "prod"}, Hosts: []string{"web-*"},
	}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := openStore(t)
	_ = st.Update(ctx, func(tx store.Tx) error {
		return tx.PutHost(&store.Host{ID: "web-1", Labels: map[string]string{"env": "prod"}})
	})
	clk := &clock{t: t0}
	b, _ := Open(ctx, st, Options{Now: clk.Now, Windows: ws})
	sat2 := time.Date(2026, 3, 7, 2, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		at   time.Time
		want bool
	}{
		{sat2.Add(-time.Second), false}, {sat2, true}, {sat2.Add(2*time.Hour - time.Second), true},
		{sat2.Add(2 * time.Hour), false}, {sat2.Add(7 * 24 * time.Hour), true},
	} {
		id, got := b.Silenced(event("web-1", "/etc/x", c.at))
		if got != c.want {
			t.Errorf("at %v: silenced %v (%s), want %v", c.at, got, id, c.want)
		}
		if got && !strings.HasPrefix(id, "mw-sat-night-") {
			t.Errorf("at %v: silence id %q", c.at, id)
		}
	}
	// Listed before it starts, stored once it does, summarized when it
	// ends having held something back.
	if l := b.List(false); len(l) != 1 || l[0].StartsAt != sat2.UnixNano() || l[0].Window != "sat-night" {
		t.Errorf("List before the window: %+v", l)
	}
	clk.t = sat2.Add(time.Minute)
	b.tick(ctx)
	appendEvents(t, st, event("web-1", "/etc/x", sat2.Add(2*time.Minute)))
	clk.t = sat2.Add(3 * time.Hour)
	b.tick(ctx)
	var n int
	_ = st.View(ctx, func(tx store.ReadTx) error {
		evs, _ := tx.EventsAfter(0, 100)
		for _, ev := range evs {
			if ev.GetType() == plumbv1.DriftEventType_DRIFT_EVENT_TYPE_SILENCE_ENDED {
				n++
				if ev.GetSilenceSummary().GetSilence().GetWindow() != "sat-night" || ev.GetSilenceSummary().GetEvents() != 1 {
					t.Errorf("window summary %v", ev)
				}
			}
		}
		return nil
	})
	if n != 1 {
		t.Errorf("%d window summaries, want 1", n)
	}
	// The next, quiet occurrence ends without a summary.
	clk.t = sat2.Add(7*24*time.Hour + time.Minute)
	b.tick(ctx)
	clk.t = sat2.Add(7*24*time.Hour + 3*time.Hour)
	b.tick(ctx)
	_ = st.View(ctx, func(tx store.ReadTx) error {
		last, _ := tx.LastEventSeq()
		if last != 2 {
			t.Errorf("a quiet window appended events: last seq %d, want 2", last)
		}
		return nil
	})
	if _, err := b.Expire(ctx, "mw-sat-night-20260314T0200Z", "bob"); !errors.Is(err, ErrWindow) && !errors.Is(err, ErrEnded) {
		t.Errorf("expiring a window occurrence: %v", err)
	}
}

func TestParseWindowsErrors(t *testing.T) {
	ok := WindowConfig{Name: "w", Schedule: "0 2 * * *", Duration: time.Hour, Hosts: []string{"*"}}
	for _, c := range []struct {
		name string
		edit func(*WindowConfig)
		want string
	}{
		{"no schedule", func(c *WindowConfig) { c.Schedule = "" }, "schedule: required"},
		{"six fields", func(c *WindowConfig) { c.Schedule = "0 0 2 * * *" }, "five fields"},
		{"bad field", func(c *WindowConfig) { c.Schedule = "0 25 * * *" }, "schedule"},
		{"every", func(c *WindowConfig) { c.Schedule = "@every 1h" }, "@every"},
		{"tz in schedule", func(c *WindowConfig) { c.Schedule = "CRON_TZ=UTC 0 2 * * *" }, "timezone:"},
		{"overlap", func(c *WindowConfig) { c.Schedule = "*/30 * * * *" }, "overlap"},
		{"no duration", func(c *WindowConfig) { c.Duration = 0 }, "duration"},
		{"too long", func(c *WindowConfig) { c.Duration = MaxDuration + time.Hour }, "duration"},
		{"bad zone", func(c *WindowConfig) { c.Timezone = "Mars/Olympus" }, "timezone"},
		{"no hosts", func(c *WindowConfig) { c.Hosts = nil }, "at least one"},
		{"bad name", func(c *WindowConfig) { c.Name = "a b" }, "name"},
		{"bad kind", func(c *WindowConfig) { c.Kind = "bogus" }, "kind"},
		{"never", func(c *WindowConfig) { c.Schedule = "0 0 30 2 *" }, "never"},
	} {
		cfg := ok
		c.edit(&cfg)
		_, err := ParseWindows([]WindowConfig{cfg}, t0)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "maintenance[0]") {
			t.Errorf("%s: %v, want an error naming maintenance[0] containing %q", c.name, err, c.want)
		}
	}
	if _, err := ParseWindows([]WindowConfig{ok, ok}, t0); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Errorf("duplicate names: %v", err)
	}
	if _, err := ParseWindows([]WindowConfig{ok}, t0); err != nil {
		t.Errorf("valid window: %v", err)
	}
}

func TestPruneEndedSilences(t *testing.T) {
	ctx := context.Background()
	st, _ := openStore(t)
	clk := &clock{t: t0}
	b, _ := Open(ctx, st, Options{Now: clk.Now, MaxKept: 2, Retention: 24 * time.Hour})
	for range 3 {
		if _, err := b.Create(ctx, Matcher{Hosts: []string{"h"}}, time.Minute, "r", "x"); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Hour)
	}
	live, err := b.Create(ctx, Matcher{Hosts: []string{"h"}}, time.Hour, "r", "x")
	if err != nil {
		t.Fatal(err)
	}
	b.tick(ctx) // summarizes the three ended ones, keeps the newest two of them
	if got := b.List(true); len(got) != 3 || got[2].ID != live.ID {
		t.Fatalf("after pruning to 2 ended: %d silences", len(got))
	}
	clk.Add(48 * time.Hour) // the live one ends too; all are past retention after its summary
	b.tick(ctx)
	b.tick(ctx)
	b2, _ := Open(ctx, st, Options{Now: clk.Now})
	if got := b2.List(true); len(got) != 0 {
		t.Errorf("after retention: %d silences kept in the store", len(got))
	}
}

// Two collectors' books on one database: a silence created and expired
// through one holds, and ends, in the other's judgement after its next
// tick when it follows the store.
func TestFollowSilencesOfAnotherCollector(t *testing.T) {
	ctx := context.Background()
	st, _ := openStore(t)
	clk := &clock{t: t0}
	a, err := Open(ctx, st, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, st, Options{Now: clk.Now, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.Create(ctx, Matcher{Hosts: []string{"web-1"}}, time.Hour, "maintenance", "alice")
	if err != nil {
		t.Fatal(err)
	}
	ev := event("web-1", "/etc/hosts", t0.Add(time.Minute))
	if _, ok := b.Silenced(ev); ok {
		t.Fatal("b knew of a's silence before its tick (the test proves nothing)")
	}
	b.tick(ctx)
	if id, ok := b.Silenced(ev); !ok || id != s.ID {
		t.Fatalf("after a tick b judges Silenced = %q, %v; want %s", id, ok, s.ID)
	}
	clk.Add(10 * time.Minute)
	if _, err := a.Expire(ctx, s.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	b.tick(ctx)
	if _, ok := b.Silenced(event("web-1", "/etc/hosts", t0.Add(11*time.Minute))); ok {
		t.Error("b still holds back events after a expired the silence")
	}
	if got := b.List(true); len(got) != 1 || got[0].ExpiredBy != "bob" {
		t.Errorf("b lists %+v", got)
	}
}
