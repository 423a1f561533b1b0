package alert_test

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/collector/alert"
	"github.com/plumb-dev/plumb/collector/store"
)

// BenchmarkCommitToWebhook measures one drift event's way from the commit
// that appends it to the bbolt log, through Kick, the Dispatcher and the
// webhook notifier, to a receiver on loopback. It reports p50 and p99,
// and the same from the end of the commit (Kick) on: what the
// Dispatcher adds to the commit's own fsync.
func BenchmarkCommitToWebhook(b *testing.B) {
	st, err := store.Open(filepath.Join(b.TempDir(), "collector.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	got := make(chan time.Time, 1)
	recv := newReceiver(b, func(int) int {
		got <- time.Now()
		return http.StatusNoContent
	})
	n := newWebhook(b, "bench", recv.URL)
	d, err := alert.NewDispatcher(st, []alert.Notifier{n}, testOptions(nil))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(b, "registered", func() bool { return boltCursor(b, st, "notifier/bench/registered") != 0 })

	lat := make([]time.Duration, 0, b.N)
	fromKick := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		appendEvents(b, st, "bench-"+strconv.Itoa(i))
		kicked := time.Now()
		d.Kick()
		select {
		case at := <-got:
			lat = append(lat, at.Sub(start))
			fromKick = append(fromKick, at.Sub(kicked))
		case <-time.After(10 * time.Second):
			b.Fatal("event not delivered")
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	slices.Sort(fromKick)
	b.ReportMetric(float64(fromKick[len(fromKick)/2].Microseconds()), "kick-p50-µs")
	b.ReportMetric(float64(fromKick[len(fromKick)*99/100].Microseconds()), "kick-p99-µs")
}
