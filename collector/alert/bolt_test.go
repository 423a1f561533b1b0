package alert_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/collector/alert"
	"github.com/plumb-dev/plumb/collector/store"
)

func boltCursor(t testing.TB, st store.Store, name string) uint64 {
	t.Helper()
	var c uint64
	err := st.View(context.Background(), func(tx store.ReadTx) error {
		var err error
		c, err = tx.Cursor(name)
		return err
	})
	if err != nil {
		t.Fatalf("read cursor %s: %v", name, err)
	}
	return c
}

// The Dispatcher against the real bbolt store: delivery in order, resume
// from the persisted cursor after the database is closed and reopened, and
// the registered flag does not hold back pruning of delivered events.
func TestDispatcherWithBoltStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "collector.db")
	recv := newReceiver(t, nil)

	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := alert.NewDispatcher(st, []alert.Notifier{newWebhook(t, "hook", recv.URL)}, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	waitFor(t, "registered", func() bool { return boltCursor(t, st, "notifier/hook/registered") != 0 })
	first := ids("first", 12)
	appendEvents(t, st, first[:6]...)
	d.Kick()
	appendEvents(t, st, first[6:]...)
	d.Kick()
	waitFor(t, "first batch delivered", func() bool { return boltCursor(t, st, "notifier/hook") == 12 })
	stop()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	second := ids("second", 5)
	appendEvents(t, st, second...) // committed while no dispatcher runs
	d, err = alert.NewDispatcher(st, []alert.Notifier{newWebhook(t, "hook", recv.URL)}, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	stop = run(t, d)
	waitFor(t, "second batch delivered", func() bool { return boltCursor(t, st, "notifier/hook") == 17 })
	stop()
	if got, want := recv.received(), append(first, second...); !slices.Equal(got, want) {
		t.Fatalf("received %v,\nwant %v", got, want)
	}

	pruned, err := st.Prune(context.Background(), time.Now().Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if pruned != 17 {
		t.Fatalf("Prune deleted %d events, want all 17 delivered ones", pruned)
	}
}

// A notifier removed from the configuration must not pin the event log: its
// cursor, stuck behind events it will never deliver, is dropped when the
// dispatcher starts without it, and pruning goes on. Added back later, it is
// a new notifier and starts at the newest event.
func TestRemovedNotifierDoesNotHoldBackPruning(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "collector.db"), store.Options{EventRetention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	later := time.Now().Add(365 * 24 * time.Hour)

	down := &scripted{name: "gone", next: func(context.Context, []string) (bool, error) {
		return true, errors.New("receiver down")
	}}
	d, err := alert.NewDispatcher(st, []alert.Notifier{down}, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	waitFor(t, "gone registered", func() bool { return boltCursor(t, st, "notifier/gone/registered") != 0 })
	appendEvents(t, st, ids("owed", 3)...)
	d.Kick()
	waitFor(t, "a failed attempt", func() bool { return len(down.callLog()) > 0 })
	stop()
	if n, err := st.Prune(ctx, later); err != nil || n != 0 {
		t.Fatalf("Prune behind a configured notifier's cursor = %d, %v; want 0", n, err)
	}

	// The configuration no longer has "gone".
	d, err = alert.NewDispatcher(st, []alert.Notifier{&scripted{name: "kept"}}, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	stop = run(t, d)
	// Notifiers start only after the removed ones are forgotten.
	waitFor(t, "kept registered", func() bool { return boltCursor(t, st, "notifier/kept/registered") != 0 })
	stop()
	if n, err := st.Prune(ctx, later); err != nil || n != 3 {
		t.Fatalf("Prune after the notifier was removed = %d, %v; want 3", n, err)
	}
	if got := boltCursor(t, st, "notifier/gone/registered"); got != 0 {
		t.Fatalf("removed notifier still registered (flag %d)", got)
	}

	back := &scripted{name: "gone"}
	d, err = alert.NewDispatcher(st, []alert.Notifier{back, &scripted{name: "kept"}}, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	waitFor(t, "gone registered again", func() bool { return boltCursor(t, st, "notifier/gone/registered") != 0 })
	if got := boltCursor(t, st, "notifier/gone"); got != 3 {
		t.Fatalf("cursor of a re-added notifier = %d, want 3 (the newest event)", got)
	}
}

// Cursor commits are lazy, but never lost: a notifier kept busy by a
// stream of events closer together than its idle delay still commits its
// cursor while busy (at least once a second), and commits the last one
// once the stream stops.
func TestBusyNotifierStillCommitsItsCursor(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "collector.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recv := newReceiver(t, nil)
	d, err := alert.NewDispatcher(st, []alert.Notifier{newWebhook(t, "hook", recv.URL)}, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	defer stop()
	waitFor(t, "registered", func() bool { return boltCursor(t, st, "notifier/hook/registered") != 0 })
	var committedWhileBusy uint64
	var last uint64
	for i := 0; i < 300; i++ {
		seqs := appendEvents(t, st, ids(fmt.Sprint("busy", i), 1)...)
		last = seqs[0]
		d.Kick()
		time.Sleep(10 * time.Millisecond)
		committedWhileBusy = max(committedWhileBusy, boltCursor(t, st, "notifier/hook"))
	}
	if committedWhileBusy == 0 {
		t.Fatal("a notifier busy for 3 s never committed its cursor")
	}
	waitFor(t, "the last cursor committed", func() bool { return boltCursor(t, st, "notifier/hook") == last })
}
