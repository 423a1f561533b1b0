package alert_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plumb-dev/plumb/collector/alert"
	"github.com/plumb-dev/plumb/collector/alert/webhook"
	"github.com/plumb-dev/plumb/collector/store"
)

// collectorSim is one of several collectors sharing a database: its own
// Dispatcher, instance id, metrics and notifier, named like the others'.
type collectorSim struct {
	d   *alert.Dispatcher
	n   *scripted
	reg *prometheus.Registry
}

func newCollectorSim(t *testing.T, st store.Store, instance string, ttl time.Duration) *collectorSim {
	t.Helper()
	c := &collectorSim{n: &scripted{name: "hook"}, reg: prometheus.NewRegistry()}
	opts := testOptions(c.reg)
	opts.Instance, opts.LeaseTTL = instance, ttl
	opts.PollInterval = 50 * time.Millisecond // the standby must notice the log without a Kick
	d, err := alert.NewDispatcher(st, []alert.Notifier{c.n}, opts)
	if err != nil {
		t.Fatal(err)
	}
	c.d = d
	return c
}

func (c *collectorSim) held(t *testing.T) float64 {
	v, ok := metric(t, c.reg, "plumb_alert_lease_held", map[string]string{"notifier": "hook"})
	if !ok {
		t.Fatal("plumb_alert_lease_held{notifier=hook} missing")
	}
	return v
}

func (c *collectorSim) delivered() []string {
	var out []string
	for _, call := range c.n.callLog() {
		out = append(out, call...)
	}
	return out
}

func openBolt(t *testing.T) *store.Bolt {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "collector.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func leaseOf(t *testing.T, st store.Store, name string) *store.Lease {
	t.Helper()
	var l *store.Lease
	err := st.View(context.Background(), func(tx store.ReadTx) error {
		var err error
		l, err = tx.Lease(name)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// countIDs counts each event id over several collectors' deliveries.
func countIDs(sims ...*collectorSim) map[string]int {
	got := map[string]int{}
	for _, s := range sims {
		for _, id := range s.delivered() {
			got[id]++
		}
	}
	return got
}

// Two collectors on one database: only the lease's holder delivers; when
// it stops cleanly it releases the lease, and the other, at its next look
// (every ttl/4 or so), resumes from the committed cursor, delivering each
// event exactly once overall. Renewals (every ttl/3) keep the lease with a.
func TestLeaseOneCollectorDeliversANotifier(t *testing.T) {
	st := openBolt(t)
	const ttl = 1500 * time.Millisecond
	a := newCollectorSim(t, st, "collector-a", ttl)
	b := newCollectorSim(t, st, "collector-b", ttl)
	stopA := run(t, a.d)
	waitFor(t, "a holds the lease", func() bool { return a.held(t) == 1 })
	run(t, b.d)
	waitFor(t, "registered", func() bool { return boltCursor(t, st, "notifier/hook/registered") != 0 })

	first := ids("first", 30)
	for i := 0; i < len(first); i += 5 {
		appendEvents(t, st, first[i:i+5]...)
		a.d.Kick()
		b.d.Kick()
		time.Sleep(ttl / 3) // across several renewals
	}
	waitFor(t, "first delivered", func() bool { return boltCursor(t, st, "notifier/hook") == 30 })
	if got := len(b.delivered()); got != 0 {
		t.Fatalf("collector b delivered %d events while a held the lease", got)
	}
	if a.held(t) != 1 || b.held(t) != 0 {
		t.Fatalf("lease_held a=%v b=%v, want 1 and 0", a.held(t), b.held(t))
	}

	stopA()
	if l := leaseOf(t, st, "notifier/hook"); l != nil && l.Holder == "collector-a" {
		t.Fatalf("a stopped but the lease is still %+v", l)
	}
	if a.held(t) != 0 {
		t.Fatal("a stopped but reports the lease held")
	}
	waitFor(t, "b holds the lease", func() bool { return b.held(t) == 1 })
	second := ids("second", 20)
	appendEvents(t, st, second...)
	b.d.Kick()
	waitFor(t, "second delivered", func() bool { return boltCursor(t, st, "notifier/hook") == 50 })

	got := countIDs(a, b)
	for _, id := range append(first, second...) {
		if got[id] != 1 {
			t.Errorf("event %s delivered %d times, want 1", id, got[id])
		}
	}
	for _, id := range second {
		if countIDs(a)[id] != 0 {
			t.Errorf("event %s delivered by a after it stopped", id)
		}
	}
}

// flaky is a store.Store that fails every call while cut: a collector cut
// off from the database.
type flaky struct {
	store.Store
	cut atomic.Bool
}

var errCut = errors.New("flaky: cut from the database")

func (f *flaky) Update(ctx context.Context, fn func(store.Tx) error) error {
	if f.cut.Load() {
		return errCut
	}
	return f.Store.Update(ctx, fn)
}

func (f *flaky) View(ctx context.Context, fn func(store.ReadTx) error) error {
	if f.cut.Load() {
		return errCut
	}
	return f.Store.View(ctx, fn)
}

// A holder cut from the database stops delivering before its lease
// expires; the other collector claims it after the expiry and delivers
// what the first had not committed. When the first is back it stands by.
func TestLeaseTakenOverAfterHolderIsCut(t *testing.T) {
	st := openBolt(t)
	const ttl = 1500 * time.Millisecond
	cutA := &flaky{Store: st}
	a := newCollectorSim(t, cutA, "collector-a", ttl)
	b := newCollectorSim(t, st, "collector-b", ttl)
	run(t, a.d)
	waitFor(t, "a holds the lease", func() bool { return a.held(t) == 1 })
	run(t, b.d)
	waitFor(t, "registered", func() bool { return boltCursor(t, st, "notifier/hook/registered") != 0 })
	first := ids("first", 10)
	appendEvents(t, st, first...)
	a.d.Kick()
	waitFor(t, "a delivered", func() bool { return boltCursor(t, st, "notifier/hook") == 10 })

	cutA.cut.Store(true)
	cutAt := time.Now()
	waitFor(t, "a gives up the lease", func() bool { return a.held(t) == 0 })
	if since := time.Since(cutAt); since > ttl-ttl/5+time.Second {
		t.Errorf("a held on %v after the cut, lease lasts %v", since, ttl)
	}
	waitFor(t, "b takes over", func() bool { return b.held(t) == 1 })
	second := ids("second", 10)
	appendEvents(t, st, second...)
	b.d.Kick()
	waitFor(t, "second delivered", func() bool { return boltCursor(t, st, "notifier/hook") == 20 })
	if l := leaseOf(t, st, "notifier/hook"); l == nil || l.Holder != "collector-b" {
		t.Fatalf("lease = %+v, want held by collector-b", l)
	}

	cutA.cut.Store(false)
	third := ids("third", 5)
	appendEvents(t, st, third...)
	a.d.Kick()
	b.d.Kick()
	waitFor(t, "third delivered", func() bool { return boltCursor(t, st, "notifier/hook") == 25 })
	got := countIDs(a, b)
	for _, id := range append(append(first, second...), third...) {
		if got[id] != 1 {
			t.Errorf("event %s delivered %d times, want 1", id, got[id])
		}
	}
	if n := len(a.delivered()); n != len(first) {
		t.Errorf("a delivered %d events, want only the %d before the cut", n, len(first))
	}
}

// A holder whose lease was taken (as if it had expired unnoticed) cannot
// commit its cursor: the commit's transaction checks the lease. It stops,
// and the events it delivered stay owed to the new holder.
func TestLeaseStaleHolderCommitFails(t *testing.T) {
	st := openBolt(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	a := newCollectorSim(t, st, "collector-a", time.Minute)
	var calls atomic.Int32
	a.n.next = func(ctx context.Context, _ []string) (bool, error) {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
		return false, nil
	}
	run(t, a.d)
	waitFor(t, "a holds the lease", func() bool { return a.held(t) == 1 })
	waitFor(t, "registered", func() bool { return boltCursor(t, st, "notifier/hook/registered") != 0 })
	appendEvents(t, st, "x")
	a.d.Kick()
	<-entered
	// While a is inside Notify, its lease passes to a thief.
	err := st.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.ReleaseLease("notifier/hook", "collector-a"); err != nil {
			return err
		}
		ok, err := tx.ClaimLease("notifier/hook", "thief", time.Now().UnixNano(), time.Now().Add(time.Hour).UnixNano())
		if !ok && err == nil {
			err = fmt.Errorf("thief could not claim the released lease")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	close(release)
	waitFor(t, "a gives up", func() bool { return a.held(t) == 0 })
	if got := boltCursor(t, st, "notifier/hook"); got != 0 {
		t.Fatalf("stale holder committed cursor %d", got)
	}
	if l := leaseOf(t, st, "notifier/hook"); l == nil || l.Holder != "thief" {
		t.Fatalf("lease = %+v, want still the thief's", l)
	}
	appendEvents(t, st, "y")
	a.d.Kick()
	time.Sleep(300 * time.Millisecond) // a standing by polls every ttl/4 ≈ 15s; it must not deliver
	if got := a.delivered(); len(got) != 1 {
		t.Fatalf("a delivered %v after losing its lease, want only [x]", got)
	}
}

// A restarted collector that keeps its instance id (a bbolt collector)
// takes its own lease back at once instead of waiting for it to expire.
func TestLeaseSameInstanceReclaimsAtOnce(t *testing.T) {
	st := openBolt(t)
	err := st.Update(context.Background(), func(tx store.Tx) error {
		_, err := tx.ClaimLease("notifier/hook", "local", time.Now().UnixNano(), time.Now().Add(time.Hour).UnixNano())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	a := newCollectorSim(t, st, "local", time.Hour)
	run(t, a.d)
	waitFor(t, "lease reclaimed", func() bool { return a.held(t) == 1 })
}

// Webhooks name the collector that delivered them: the lease's holder,
// then, after it stops, the one that took over; no event twice.
func TestLeaseDeliveriesNameTheirCollector(t *testing.T) {
	st := openBolt(t)
	var mu sync.Mutex
	by := map[string][]string{} // webhook-id -> instances that delivered it
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		id := r.Header.Get("webhook-id")
		by[id] = append(by[id], r.Header.Get(webhook.InstanceHeader))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	dispatcher := func(instance string) *alert.Dispatcher {
		opts := testOptions(nil)
		opts.Instance, opts.LeaseTTL, opts.PollInterval = instance, 1500*time.Millisecond, 50*time.Millisecond
		d, err := alert.NewDispatcher(st, []alert.Notifier{newWebhook(t, "hook", srv.URL)}, opts)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b := dispatcher("collector-a"), dispatcher("collector-b")
	stopA := run(t, a)
	waitFor(t, "registered", func() bool { return boltCursor(t, st, "notifier/hook/registered") != 0 })
	run(t, b)
	appendEvents(t, st, "e1", "e2", "e3")
	a.Kick()
	b.Kick()
	waitFor(t, "first delivered", func() bool { return boltCursor(t, st, "notifier/hook") == 3 })
	stopA()
	appendEvents(t, st, "e4", "e5")
	b.Kick()
	waitFor(t, "second delivered", func() bool { return boltCursor(t, st, "notifier/hook") == 5 })
	mu.Lock()
	defer mu.Unlock()
	want := map[string]string{"e1": "collector-a", "e2": "collector-a", "e3": "collector-a", "e4": "collector-b", "e5": "collector-b"}
	for id, inst := range want {
		if got := by[id]; len(got) != 1 || got[0] != inst {
			t.Errorf("%s delivered by %v, want once by %s", id, got, inst)
		}
	}
}
