package alert_test

import (
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plumb-dev/plumb/collector/alert"
	"github.com/plumb-dev/plumb/collector/alert/webhook"
	"github.com/plumb-dev/plumb/collector/store"
)

// These tests run the Dispatcher with the real webhook notifier against
// real HTTP servers on loopback.

func newWebhook(t testing.TB, name, url string) alert.Notifier {
	t.Helper()
	n, err := webhook.New(name, webhook.Config{URL: url, Timeout: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWebhookRetriesServerErrorThenDelivers(t *testing.T) {
	data := newMemData()
	st := data.open()
	release := make(chan struct{})
	recv := newReceiver(t, func(int) int {
		select {
		case <-release:
			return http.StatusOK
		default:
			return http.StatusInternalServerError
		}
	})
	reg := prometheus.NewRegistry()
	d, err := alert.NewDispatcher(st, []alert.Notifier{newWebhook(t, "hook", recv.URL)}, testOptions(reg))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	registered(t, data, "hook")
	appendEvents(t, st, "ev-1")
	d.Kick()
	waitFor(t, "two failed attempts", func() bool { return recv.attemptCount() >= 2 })
	if got := data.cursor("notifier/hook"); got != 0 {
		t.Fatalf("cursor = %d while the receiver fails, want 0", got)
	}
	close(release)
	waitFor(t, "cursor advanced", func() bool { return data.cursor("notifier/hook") == 1 })
	if got := recv.received(); !slices.Equal(got, []string{"ev-1"}) {
		t.Fatalf("received %v, want [ev-1] once", got)
	}
	if got := deliveries(t, reg, "hook", "retry"); got < 2 {
		t.Errorf("retry = %v, want >= 2", got)
	}
	if got := deliveries(t, reg, "hook", "ok"); got != 1 {
		t.Errorf("ok = %v, want 1", got)
	}
}

func TestWebhookClientErrorIsDroppedAndCounted(t *testing.T) {
	data := newMemData()
	st := data.open()
	recv := newReceiver(t, func(attempt int) int {
		if attempt == 2 {
			return http.StatusBadRequest
		}
		return http.StatusAccepted
	})
	reg := prometheus.NewRegistry()
	d, err := alert.NewDispatcher(st, []alert.Notifier{newWebhook(t, "hook", recv.URL)}, testOptions(reg))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	registered(t, data, "hook")
	appendEvents(t, st, "a", "rejected", "c")
	d.Kick()
	waitFor(t, "all finished", func() bool { return data.cursor("notifier/hook") == 3 })
	if got, want := recv.received(), []string{"a", "c"}; !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	if got := recv.attemptCount(); got != 3 {
		t.Errorf("attempts = %d, want 3 (a 400 is not retried)", got)
	}
	if got := deliveries(t, reg, "hook", "dropped"); got != 1 {
		t.Errorf("dropped = %v, want 1", got)
	}
	if got := deliveries(t, reg, "hook", "retry"); got != 0 {
		t.Errorf("retry = %v, want 0", got)
	}
}

func TestWebhookServerDownIsRetried(t *testing.T) {
	// Reserve a port, then close it: connections are refused until the
	// receiver starts listening there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	data := newMemData()
	st := data.open()
	reg := prometheus.NewRegistry()
	d, err := alert.NewDispatcher(st, []alert.Notifier{newWebhook(t, "hook", "http://"+addr+"/hook")}, testOptions(reg))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	registered(t, data, "hook")
	appendEvents(t, st, "while-down")
	d.Kick()
	waitFor(t, "failed attempts", func() bool { return deliveries(t, reg, "hook", "retry") >= 2 })
	if got := data.cursor("notifier/hook"); got != 0 {
		t.Fatalf("cursor = %d while the receiver is down", got)
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	recv := newReceiverOn(t, ln, nil)
	waitFor(t, "delivered after the receiver came up", func() bool { return data.cursor("notifier/hook") == 1 })
	if got := recv.received(); !slices.Equal(got, []string{"while-down"}) {
		t.Fatalf("received %v", got)
	}
}

func TestWebhookOrderAndResumeAfterRestart(t *testing.T) {
	data := newMemData()
	recv := newReceiver(t, nil)

	st := data.open()
	d, err := alert.NewDispatcher(st, []alert.Notifier{newWebhook(t, "hook", recv.URL)}, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	registered(t, data, "hook")
	first := ids("first", 25)
	for i := 0; i < len(first); i += 5 { // several commits, each kicking
		appendEvents(t, st, first[i:i+5]...)
		d.Kick()
	}
	waitFor(t, "first run delivered", func() bool { return data.cursor("notifier/hook") == 25 })
	stop()
	st.Close()

	// Events committed while the dispatcher is down.
	st = data.open()
	second := ids("second", 7)
	appendEvents(t, st, second...)

	d, err = alert.NewDispatcher(st, []alert.Notifier{newWebhook(t, "hook", recv.URL)}, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	waitFor(t, "second run delivered", func() bool { return data.cursor("notifier/hook") == 32 })
	if got, want := recv.received(), append(first, second...); !slices.Equal(got, want) {
		t.Fatalf("received %v,\nwant %v (in order, once each)", got, want)
	}
}

// Kick wakes an idle notifier at once: testOptions poll only once an hour.
func TestKickDeliversPromptly(t *testing.T) {
	data := newMemData()
	st := data.open()
	got := make(chan time.Time, 16)
	recv := newReceiver(t, func(int) int {
		got <- time.Now()
		return http.StatusOK
	})
	d, err := alert.NewDispatcher(st, []alert.Notifier{newWebhook(t, "hook", recv.URL)}, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	registered(t, data, "hook")
	var worst time.Duration
	for i := range 5 {
		appendEvents(t, st, ids("k", 5)[i])
		kicked := time.Now()
		d.Kick()
		select {
		case at := <-got:
			worst = max(worst, at.Sub(kicked))
		case <-time.After(5 * time.Second):
			t.Fatal("no delivery after Kick")
		}
	}
	t.Logf("slowest Kick to delivery: %v", worst)
	if worst > time.Second {
		t.Errorf("Kick to delivery took %v, want well under a second on loopback", worst)
	}
}

// Without a Kick, the safety-net timer finds new events.
func TestPollFindsEventsWithoutKick(t *testing.T) {
	data := newMemData()
	st := data.open()
	recv := newReceiver(t, nil)
	opts := testOptions(nil)
	opts.PollInterval = 20 * time.Millisecond
	d, err := alert.NewDispatcher(st, []alert.Notifier{newWebhook(t, "hook", recv.URL)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	registered(t, data, "hook")
	appendEvents(t, st, "unkicked")
	waitFor(t, "delivered by the poll", func() bool { return data.cursor("notifier/hook") == 1 })
}

// One broken receiver does not hold back another.
func TestNotifiersAreIndependent(t *testing.T) {
	data := newMemData()
	st := data.open()
	good := newReceiver(t, nil)
	bad := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
	d, err := alert.NewDispatcher(st, []alert.Notifier{
		newWebhook(t, "good", good.URL), newWebhook(t, "bad", bad.URL),
	}, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	registered(t, data, "good")
	registered(t, data, "bad")
	appendEvents(t, st, "x", "y")
	d.Kick()
	waitFor(t, "good delivered", func() bool { return data.cursor("notifier/good") == 2 })
	waitFor(t, "bad retried", func() bool { return bad.attemptCount() >= 2 })
	if got := data.cursor("notifier/bad"); got != 0 {
		t.Fatalf("bad cursor = %d, want 0", got)
	}
}

var _ store.Store = (*memStore)(nil)

func TestBuildWebhooks(t *testing.T) {
	ns, err := alert.Build([]map[string]any{
		{"url": "http://127.0.0.1:1/a"},
		{"type": "webhook", "name": "ops", "url": "https://example.com/b", "timeout": "1s",
			"headers": map[string]any{"Authorization": "Bearer x"}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range ns {
		names = append(names, n.Name())
	}
	if want := []string{"webhook0", "ops"}; !slices.Equal(names, want) {
		t.Fatalf("names = %v, want %v", names, want)
	}
}

func TestBuildReportsEveryProblem(t *testing.T) {
	_, err := alert.Build([]map[string]any{
		{"name": "dup", "url": "http://127.0.0.1:1/a"},
		{"name": "dup", "url": "http://127.0.0.1:1/b"},
		{"url": "http://127.0.0.1:1/c", "urll": "typo"},
		{"type": "carrier-pigeon"},
		{"name": "no-url"},
		{"name": "bad name!", "url": "http://127.0.0.1:1/d"},
		{"name": 7, "url": "http://127.0.0.1:1/e"},
	}, nil)
	if err == nil {
		t.Fatal("Build accepted bad configs")
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 6 {
		t.Fatalf("want 6 joined errors (all but the first entry), got: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		`notifiers[1] "dup": name already used by notifiers[0]`,
		`notifiers[2] "webhook2"`, "urll",
		`notifiers[3] "carrier-pigeon3": unknown notifier type "carrier-pigeon"`,
		`notifiers[4] "no-url": url is required`,
		`notifiers[5] "bad name!"`,
		`notifiers[6]: name must be a string`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
}

func TestRegisterPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"duplicate": func() {
			alert.Register(webhook.TypeName, func(alert.Params) (alert.Notifier, error) { return nil, nil })
		},
		"nil factory": func() { alert.Register("nil-factory", nil) },
		"empty name": func() {
			alert.Register("", func(alert.Params) (alert.Notifier, error) { return nil, nil })
		},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("Register did not panic")
				}
			}()
			f()
		})
	}
	if !slices.Contains(alert.Types(), webhook.TypeName) {
		t.Fatalf("Types() = %v, want it to list %q", alert.Types(), webhook.TypeName)
	}
}
