package alert_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/alert"
	"github.com/plumb-dev/plumb/collector/store"
)

// quiet holds back every event whose id starts with "quiet-", summary
// events included (the dispatcher must send those anyway).
type quiet struct{}

func (quiet) Silenced(ev *plumbv1.DriftEvent) (string, bool) {
	return "s-1", strings.HasPrefix(ev.GetId(), "quiet-")
}

func TestSilencedEventsAreNotSent(t *testing.T) {
	data := newMemData()
	st := data.open()
	n := &scripted{name: "n"}
	reg := prometheus.NewRegistry()
	opts := testOptions(reg)
	opts.Silencer = quiet{}
	d, err := alert.NewDispatcher(st, []alert.Notifier{n}, opts)
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	registered(t, data, "n")

	// Held back at the tail of a batch, in a batch of their own, and a
	// summary event the silencer would hold back.
	appendEvents(t, st, "loud-0", "quiet-1", "quiet-2", "loud-3", "quiet-4")
	d.Kick()
	waitFor(t, "cursor past the first batch", func() bool { return data.cursor("notifier/n") == 5 })
	appendEvents(t, st, "quiet-5", "quiet-6")
	d.Kick()
	waitFor(t, "cursor past a batch held back whole", func() bool { return data.cursor("notifier/n") == 7 })
	err = st.Update(context.Background(), func(tx store.Tx) error {
		return tx.AppendEvent(&plumbv1.DriftEvent{Id: "quiet-summary", Type: plumbv1.DriftEventType_DRIFT_EVENT_TYPE_SILENCE_ENDED})
	})
	if err != nil {
		t.Fatal(err)
	}
	d.Kick()
	waitFor(t, "summary delivered", func() bool { return data.cursor("notifier/n") == 8 })

	var got []string
	for _, call := range n.callLog() {
		got = append(got, call...)
	}
	if want := []string{"loud-0", "loud-3", "quiet-summary"}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if v, _ := metric(t, reg, "plumb_alert_silenced_total", map[string]string{"notifier": "n"}); v != 5 {
		t.Errorf("plumb_alert_silenced_total = %v, want 5 (each held-back event counted once)", v)
	}
	if v := deliveries(t, reg, "n", "ok"); v != 3 {
		t.Errorf("delivered ok = %v, want 3", v)
	}
}
