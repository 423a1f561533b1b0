package alert_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/alert"
	"github.com/plumb-dev/plumb/collector/store"
)

// testOptions make retries quick and leave only Kick to wake an idle
// notifier, so a test that passes proves the Kick path.
func testOptions(reg prometheus.Registerer) alert.Options {
	return alert.Options{
		Registerer:     reg,
		BatchSize:      10,
		PollInterval:   time.Hour,
		InitialBackoff: 5 * time.Millisecond,
		MaxBackoff:     20 * time.Millisecond,
	}
}

func event(id string) *plumbv1.DriftEvent {
	base := &plumbv1.Fact{
		Kind:   plumbv1.FactKind_FACT_KIND_PACKAGE,
		Key:    []byte("nginx"),
		Digest: []byte{1, 2, 3},
		Attrs:  &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: "1.24.0", Arch: "amd64", Manager: "dpkg"}},
	}
	cur := &plumbv1.Fact{
		Kind:   plumbv1.FactKind_FACT_KIND_PACKAGE,
		Key:    []byte("nginx"),
		Digest: []byte{4, 5, 6},
		Attrs:  &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: "1.25.1", Arch: "amd64", Manager: "dpkg"}},
	}
	return &plumbv1.DriftEvent{
		Id:         id,
		Type:       plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED,
		AtUnixNano: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano(),
		Item: &plumbv1.DriftItem{
			Id:               "item-" + id,
			HostId:           "web-1",
			Kind:             plumbv1.FactKind_FACT_KIND_PACKAGE,
			Key:              []byte("nginx"),
			Change:           plumbv1.DriftChange_DRIFT_CHANGE_MODIFIED,
			Status:           plumbv1.DriftStatus_DRIFT_STATUS_OPEN,
			Baseline:         base,
			Current:          cur,
			ObservedUnixNano: time.Date(2026, 1, 2, 3, 4, 4, 0, time.UTC).UnixNano(),
			DetectedUnixNano: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano(),
		},
	}
}

// appendEvents commits events with the given ids in one transaction, as
// the apply path does, and returns their seqs.
func appendEvents(t testing.TB, st store.Store, ids ...string) []uint64 {
	t.Helper()
	var seqs []uint64
	err := st.Update(context.Background(), func(tx store.Tx) error {
		for _, id := range ids {
			ev := event(id)
			if err := tx.AppendEvent(ev); err != nil {
				return err
			}
			seqs = append(seqs, ev.GetSeq())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("append events: %v", err)
	}
	return seqs
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

// run starts d.Run and returns a stop function that cancels it and fails
// the test unless Run returns promptly.
func run(t *testing.T, d *alert.Dispatcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// metric returns the value of the series of name with exactly labels, and
// whether it exists.
func metric(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !labelsMatch(m.GetLabel(), labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func labelsMatch(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, lp := range got {
		if want[lp.GetName()] != lp.GetValue() {
			return false
		}
	}
	return true
}

func deliveries(t *testing.T, g prometheus.Gatherer, notifier, result string) float64 {
	t.Helper()
	v, _ := metric(t, g, "plumb_alert_deliveries_total", map[string]string{"notifier": notifier, "result": result})
	return v
}

// receiver is a webhook endpoint that records the webhook-id of every
// request it accepts, in order, and answers with status(attempt).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	attempts int
	got      []string
	status   func(attempt int) int
}

func newReceiver(t testing.TB, status func(attempt int) int) *receiver {
	return newReceiverOn(t, nil, status)
}

// newReceiverOn serves on ln, or on a fresh loopback port when ln is nil.
func newReceiverOn(t testing.TB, ln net.Listener, status func(attempt int) int) *receiver {
	r := &receiver{status: status}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body struct {
			ID string `json:"id"`
		}
		if err := json.NewDecoder(req.Body).Decode(&body); err != nil || body.ID != req.Header.Get("webhook-id") {
			http.Error(w, "bad body", http.StatusTeapot)
			return
		}
		r.mu.Lock()
		r.attempts++
		code := http.StatusNoContent
		if r.status != nil {
			code = r.status(r.attempts)
		}
		if code < 300 {
			r.got = append(r.got, body.ID)
		}
		r.mu.Unlock()
		w.WriteHeader(code)
	}))
	if ln != nil {
		r.Listener.Close()
		r.Listener = ln
	}
	r.Start()
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func (r *receiver) attemptCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts
}

// registered waits until the notifier has loaded or created its cursor.
func registered(t testing.TB, data *memData, name string) {
	t.Helper()
	waitFor(t, name+" registered", func() bool { return data.cursor("notifier/"+name+"/registered") != 0 })
}
