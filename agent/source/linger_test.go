package source

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// countingRecorder counts Apply calls.
type countingRecorder struct {
	*memRecorder
	applies atomic.Int64
}

func (c *countingRecorder) Apply(batch []Op) (int, error) {
	c.applies.Add(1)
	return c.memRecorder.Apply(batch)
}

// While a snapshot is open, reports gather into few records; outside one,
// a change is recorded as soon as it arrives, however long ScanLinger.
func TestScanBatchesLingerOnlyDuringSnapshots(t *testing.T) {
	rec := &countingRecorder{memRecorder: &memRecorder{facts: map[fact.Key]*plumbv1.Fact{}}}
	live := make(chan *plumbv1.Fact)
	const n = 200
	src := scripted(func(s Sink) {
		sc := Scope{Kind: plumbv1.FactKind_FACT_KIND_FILE, Prefix: "/srv"}
		s.Begin(sc)
		for i := range n {
			s.Upsert(fileFact("/srv/f" + strconv.Itoa(i)))
			time.Sleep(time.Millisecond) // slower than the runner: each would be its own batch
		}
		s.End(sc)
		s.Ready()
		for f := range live {
			s.Upsert(f)
		}
	})
	r := NewRunner(slog.New(slog.DiscardHandler), rec, map[string]Source{"files": src}, nil)
	r.ScanLinger = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-r.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("runner never became ready")
	}
	// The first report is recorded at once, the rest when the snapshot
	// ends, then the checkpoint.
	if got := rec.applies.Load(); got > 3 {
		t.Errorf("a snapshot of %d reports took %d records, want at most 3", n, got)
	}
	if _, ok := rec.Lookup(fact.KeyOf(fileFact("/srv/f199"))); !ok {
		t.Fatal("the snapshot's last report was not recorded at its end")
	}
	f := fileFact("/srv/live")
	live <- f
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, ok := rec.Lookup(fact.KeyOf(f)); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a change outside any snapshot was not recorded within 20 s (ScanLinger is an hour)")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(live)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
