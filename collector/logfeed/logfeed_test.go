package logfeed_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/logfeed"
	"github.com/plumb-dev/plumb/collector/store"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func appendEvent(t *testing.T, st store.Store, id string) {
	t.Helper()
	err := st.Update(context.Background(), func(tx store.Tx) error {
		return tx.AppendEvent(&plumbv1.DriftEvent{Id: id, Type: plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// An event appended by another writer of the database (here: the test,
// which signals nobody) reaches the Feed's subscriber; a log that does
// not move signals nothing.
func TestFeedSignalsAnotherWritersAppend(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "c.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	appendEvent(t, st, "before")
	var signals atomic.Int32
	looks := &countingStore{Store: st}
	f := &logfeed.Feed{Store: looks, Notify: func() { signals.Add(1) }, Every: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()

	// Several looks at an unchanged log: no signal (the event from before
	// the Feed started is not news).
	waitFor(t, "five looks", func() bool { return looks.views.Load() >= 5 })
	if n := signals.Load(); n != 0 {
		t.Fatalf("%d signals while the log did not move", n)
	}
	appendEvent(t, st, "from-another-collector")
	waitFor(t, "a signal", func() bool { return signals.Load() >= 1 })
	seen := looks.views.Load()
	waitFor(t, "five more looks", func() bool { return looks.views.Load() >= seen+5 })
	if n := signals.Load(); n != 1 {
		t.Fatalf("%d signals for one append, want 1", n)
	}
}

// countingStore counts the Feed's looks at the log.
type countingStore struct {
	store.Store
	views atomic.Int64
}

func (c *countingStore) View(ctx context.Context, fn func(store.ReadTx) error) error {
	defer c.views.Add(1)
	return c.Store.View(ctx, fn)
}
