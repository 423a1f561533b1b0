package alert_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/alert"
)

// scripted is a notifier whose results the test decides: Notify calls
// next(ids) and records every call.
type scripted struct {
	name string
	next func(ctx context.Context, ids []string) (bool, error)

	mu    sync.Mutex
	calls [][]string
}

func (s *scripted) Name() string { return s.name }

func (s *scripted) Notify(ctx context.Context, events []*plumbv1.DriftEvent) (bool, error) {
	var ids []string
	for _, ev := range events {
		ids = append(ids, ev.GetId())
	}
	s.mu.Lock()
	s.calls = append(s.calls, ids)
	s.mu.Unlock()
	if s.next == nil {
		return false, nil
	}
	return s.next(ctx, ids)
}

func (s *scripted) callLog() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func TestNewNotifierStartsAtNewestEvent(t *testing.T) {
	data := newMemData()
	st := data.open()
	appendEvents(t, st, "old-1", "old-2", "old-3")

	n := &scripted{name: "fresh"}
	d, err := alert.NewDispatcher(st, []alert.Notifier{n}, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	registered(t, data, "fresh")
	if got := data.cursor("notifier/fresh"); got != 3 {
		t.Fatalf("cursor of a new notifier = %d, want 3 (the newest event)", got)
	}
	appendEvents(t, st, "new-1")
	d.Kick()
	waitFor(t, "cursor past new-1", func() bool { return data.cursor("notifier/fresh") == 4 })
	if got, want := n.callLog(), [][]string{{"new-1"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("calls = %v, want %v: history before the notifier was added must not be replayed", got, want)
	}
}

// A notifier that was added while the log was empty and never delivered
// anything has cursor 0; after a restart it must resume there, not jump to
// the head and skip what it owes.
func TestKnownNotifierWithZeroCursorResumes(t *testing.T) {
	data := newMemData()
	fail := &scripted{name: "n", next: func(ctx context.Context, _ []string) (bool, error) {
		return true, errors.New("receiver down")
	}}
	d, err := alert.NewDispatcher(data.open(), []alert.Notifier{fail}, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	registered(t, data, "n")
	appendEvents(t, data.open(), "owed-1", "owed-2")
	d.Kick()
	waitFor(t, "failed attempts", func() bool { return len(fail.callLog()) >= 2 })
	stop()
	if got := data.cursor("notifier/n"); got != 0 {
		t.Fatalf("cursor after failures = %d, want 0", got)
	}

	ok := &scripted{name: "n"}
	d2, err := alert.NewDispatcher(data.open(), []alert.Notifier{ok}, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d2)
	waitFor(t, "owed events delivered", func() bool { return data.cursor("notifier/n") == 2 })
	if got, want := ok.callLog(), [][]string{{"owed-1", "owed-2"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("calls after restart = %v, want %v", got, want)
	}
}

func TestBatchesAreBoundedAndOrdered(t *testing.T) {
	data := newMemData()
	st := data.open()
	n := &scripted{name: "b"}
	opts := testOptions(nil)
	opts.BatchSize = 4
	d, err := alert.NewDispatcher(st, []alert.Notifier{n}, opts)
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	registered(t, data, "b")
	want := ids("e", 10)
	appendEvents(t, st, want...)
	d.Kick()
	waitFor(t, "all delivered", func() bool { return data.cursor("notifier/b") == 10 })
	var got []string
	for _, call := range n.callLog() {
		if len(call) > 4 {
			t.Errorf("Notify got %d events, batch size is 4", len(call))
		}
		got = append(got, call...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
}

func TestRetryableFailureRetriesSameBatch(t *testing.T) {
	data := newMemData()
	st := data.open()
	var mu sync.Mutex
	failures := 3
	n := &scripted{name: "r", next: func(context.Context, []string) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		if failures > 0 {
			failures--
			return true, errors.New("503")
		}
		return false, nil
	}}
	reg := prometheus.NewRegistry()
	d, err := alert.NewDispatcher(st, []alert.Notifier{n}, testOptions(reg))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	registered(t, data, "r")
	appendEvents(t, st, "a", "b")
	d.Kick()
	waitFor(t, "delivered", func() bool { return data.cursor("notifier/r") == 2 })
	calls := n.callLog()
	if len(calls) != 4 {
		t.Fatalf("Notify called %d times, want 3 failures + 1 success: %v", len(calls), calls)
	}
	for _, c := range calls {
		if !slices.Equal(c, []string{"a", "b"}) {
			t.Fatalf("call %v, want the same batch [a b] every time", c)
		}
	}
	if got := deliveries(t, reg, "r", "retry"); got != 6 {
		t.Errorf("retry count = %v, want 6 (2 events x 3 failed attempts)", got)
	}
	if got := deliveries(t, reg, "r", "ok"); got != 2 {
		t.Errorf("ok count = %v, want 2", got)
	}
	if got := deliveries(t, reg, "r", "dropped"); got != 0 {
		t.Errorf("dropped count = %v, want 0", got)
	}
}

// A partial failure keeps what was delivered, and a permanent failure
// drops only the event that failed, not the ones after it.
func TestPartialPermanentFailureDropsOneEvent(t *testing.T) {
	data := newMemData()
	st := data.open()
	n := &scripted{name: "p", next: func(_ context.Context, ids []string) (bool, error) {
		if i := slices.Index(ids, "bad"); i >= 0 {
			return false, &alert.PartialError{Delivered: i, Err: errors.New("400 bad request")}
		}
		return false, nil
	}}
	reg := prometheus.NewRegistry()
	d, err := alert.NewDispatcher(st, []alert.Notifier{n}, testOptions(reg))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	registered(t, data, "p")
	appendEvents(t, st, "a", "bad", "c", "d")
	d.Kick()
	waitFor(t, "all finished", func() bool { return data.cursor("notifier/p") == 4 })
	want := [][]string{{"a", "bad", "c", "d"}, {"c", "d"}}
	if got := n.callLog(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	if got := deliveries(t, reg, "p", "dropped"); got != 1 {
		t.Errorf("dropped = %v, want 1", got)
	}
	if got := deliveries(t, reg, "p", "ok"); got != 3 {
		t.Errorf("ok = %v, want 3", got)
	}
}

func TestPermanentFailureDropsWholeBatch(t *testing.T) {
	data := newMemData()
	st := data.open()
	n := &scripted{name: "w", next: func(_ context.Context, ids []string) (bool, error) {
		if ids[0] == "x" {
			return false, errors.New("payload rejected")
		}
		return false, nil
	}}
	reg := prometheus.NewRegistry()
	d, err := alert.NewDispatcher(st, []alert.Notifier{n}, testOptions(reg))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	registered(t, data, "w")
	appendEvents(t, st, "x", "y")
	d.Kick()
	waitFor(t, "dropped", func() bool { return data.cursor("notifier/w") == 2 })
	appendEvents(t, st, "z")
	d.Kick()
	waitFor(t, "next event delivered", func() bool { return data.cursor("notifier/w") == 3 })
	if got := deliveries(t, reg, "w", "dropped"); got != 2 {
		t.Errorf("dropped = %v, want 2", got)
	}
	if got := deliveries(t, reg, "w", "ok"); got != 1 {
		t.Errorf("ok = %v, want 1", got)
	}
}

func TestMetricsPrecreatedAndPending(t *testing.T) {
	data := newMemData()
	st := data.open()
	release := make(chan struct{})
	n := &scripted{name: "m", next: func(ctx context.Context, _ []string) (bool, error) {
		select {
		case <-release:
			return false, nil
		default:
			return true, errors.New("down")
		}
	}}
	reg := prometheus.NewRegistry()
	d, err := alert.NewDispatcher(st, []alert.Notifier{n}, testOptions(reg))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"ok", "retry", "dropped"} {
		if _, ok := metric(t, reg, "plumb_alert_deliveries_total", map[string]string{"notifier": "m", "result": r}); !ok {
			t.Errorf("deliveries_total{result=%q} not pre-created", r)
		}
	}
	for _, name := range []string{"plumb_alert_delivery_seconds", "plumb_alert_pending_events"} {
		if _, ok := metric(t, reg, name, map[string]string{"notifier": "m"}); !ok {
			t.Errorf("%s not pre-created", name)
		}
	}

	run(t, d)
	registered(t, data, "m")
	appendEvents(t, st, "a", "b", "c")
	d.Kick()
	waitFor(t, "pending = 3", func() bool {
		v, _ := metric(t, reg, "plumb_alert_pending_events", map[string]string{"notifier": "m"})
		return v == 3
	})
	// A failure must have been timed before the receiver comes back: the
	// first attempt may otherwise come after the release.
	waitFor(t, "a failed attempt", func() bool {
		v, _ := metric(t, reg, "plumb_alert_deliveries_total", map[string]string{"notifier": "m", "result": "retry"})
		return v >= 1
	})
	close(release)
	waitFor(t, "pending = 0", func() bool {
		v, _ := metric(t, reg, "plumb_alert_pending_events", map[string]string{"notifier": "m"})
		return v == 0
	})
	if v, _ := metric(t, reg, "plumb_alert_delivery_seconds", map[string]string{"notifier": "m"}); v < 2 {
		t.Errorf("delivery_seconds count = %v, want >= 2 (failures and the success are timed)", v)
	}
}

// Stopping during a Notify call neither drops nor counts the batch as
// failed: the receiver did nothing wrong.
func TestStopDuringNotifyKeepsEvent(t *testing.T) {
	data := newMemData()
	st := data.open()
	entered := make(chan struct{}, 1)
	n := &scripted{name: "s", next: func(ctx context.Context, _ []string) (bool, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return false, ctx.Err() // a careless notifier calling it permanent
	}}
	reg := prometheus.NewRegistry()
	d, err := alert.NewDispatcher(st, []alert.Notifier{n}, testOptions(reg))
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	registered(t, data, "s")
	appendEvents(t, st, "a")
	d.Kick()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("Notify not called")
	}
	stop()
	if got := data.cursor("notifier/s"); got != 0 {
		t.Fatalf("cursor = %d after stop during Notify, want 0 (event still owed)", got)
	}
	for _, r := range []string{"retry", "dropped", "ok"} {
		if got := deliveries(t, reg, "s", r); got != 0 {
			t.Errorf("%s = %v, want 0", r, got)
		}
	}
}

// Cursor commits that fail do not stop delivery; the cursor is committed
// once the store works again.
func TestCursorCommitFailureIsRetried(t *testing.T) {
	data := newMemData()
	st := data.open()
	n := &scripted{name: "c"}
	d, err := alert.NewDispatcher(st, []alert.Notifier{n}, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	registered(t, data, "c")
	appendEvents(t, st, "a")
	data.failUpdates.Store(true)
	d.Kick()
	waitFor(t, "delivered", func() bool { return len(n.callLog()) == 1 })
	if got := data.cursor("notifier/c"); got != 0 {
		t.Fatalf("cursor = %d while updates fail", got)
	}
	data.failUpdates.Store(false)
	d.Kick()
	waitFor(t, "cursor committed", func() bool { return data.cursor("notifier/c") == 1 })
	if got := len(n.callLog()); got != 1 {
		t.Fatalf("Notify called %d times, want 1 (no re-delivery while running)", got)
	}
}

func TestNewDispatcherRejectsDuplicateNames(t *testing.T) {
	_, err := alert.NewDispatcher(newMemData().open(),
		[]alert.Notifier{&scripted{name: "a"}, &scripted{name: "a"}}, testOptions(nil))
	if err == nil {
		t.Fatal("duplicate notifier names accepted")
	}
	_, err = alert.NewDispatcher(newMemData().open(), []alert.Notifier{&scripted{name: "a/b"}}, testOptions(nil))
	if err == nil {
		t.Fatal("name with '/' accepted")
	}
}

func TestRunTwice(t *testing.T) {
	d, err := alert.NewDispatcher(newMemData().open(), nil, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Run(ctx); err != nil {
		t.Fatalf("first Run = %v", err)
	}
	if err := d.Run(ctx); err == nil {
		t.Fatal("second Run returned nil")
	}
}

// Run forgets every cursor entry of a notifier that is not configured, and
// logs it; configured notifiers and cursors that are not a notifier's
// keep theirs.
func TestRunForgetsRemovedNotifiers(t *testing.T) {
	data := newMemData()
	st := data.open()
	appendEvents(t, st, "a", "b", "c")
	before := map[string]uint64{
		"notifier/kept": 3, "notifier/kept/registered": ^uint64(0),
		"notifier/gone": 1, "notifier/gone/registered": ^uint64(0),
		"notifier/kept-old": 0, "notifier/kept-old/registered": ^uint64(0),
		"export": 1,
	}
	for name, seq := range before {
		data.cursors[name] = seq
	}
	var logs bytes.Buffer
	opts := testOptions(nil)
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	d, err := alert.NewDispatcher(st, []alert.Notifier{&scripted{name: "kept"}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	waitFor(t, "gone forgotten", func() bool { return data.cursor("notifier/gone/registered") == 0 })
	stop()
	data.mu.Lock()
	got := maps.Clone(data.cursors)
	data.mu.Unlock()
	want := map[string]uint64{"notifier/kept": 3, "notifier/kept/registered": ^uint64(0), "export": 1}
	if !maps.Equal(got, want) {
		t.Errorf("cursors = %v, want %v", got, want)
	}
	for _, line := range []string{"notifier=gone cursor=1 undelivered=2", "notifier=kept-old cursor=0 undelivered=3"} {
		if !strings.Contains(logs.String(), line) {
			t.Errorf("log lacks %q:\n%s", line, logs.String())
		}
	}
}
