package pagerduty

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/alert"
)

const key = "0123456789abcdef0123456789abcdef"

func event(typ plumbv1.DriftEventType, sev plumbv1.Severity, k string) *plumbv1.DriftEvent {
	return &plumbv1.DriftEvent{Id: "ev-" + typ.String(), Type: typ, AtUnixNano: 1, Item: &plumbv1.DriftItem{
		Id: "item-1", HostId: "web-1", Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte(k),
		Change: plumbv1.DriftChange_DRIFT_CHANGE_MODIFIED, Status: plumbv1.DriftStatus_DRIFT_STATUS_OPEN, Severity: sev,
	}}
}

// checkSchema checks a request against the Events API v2 documentation:
// routing_key (32 chars), event_action, dedup_key (at most 255), and for a
// trigger a payload with summary (1 to 1024), source and a severity of
// critical, error, warning or info; a resolve carries no payload.
func checkSchema(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if rk, _ := m["routing_key"].(string); len(rk) != 32 {
		t.Errorf("routing_key %q", rk)
	}
	if dk, _ := m["dedup_key"].(string); dk == "" || len(dk) > 255 {
		t.Errorf("dedup_key %q", dk)
	}
	switch m["event_action"] {
	case "trigger":
		p, ok := m["payload"].(map[string]any)
		if !ok {
			t.Fatalf("trigger without payload: %s", body)
		}
		if s, _ := p["summary"].(string); s == "" || len([]rune(s)) > 1024 {
			t.Errorf("summary of %d characters", len([]rune(s)))
		}
		if s, _ := p["source"].(string); s == "" {
			t.Error("no source")
		}
		switch p["severity"] {
		case "critical", "error", "warning", "info":
		default:
			t.Errorf("severity %v", p["severity"])
		}
	case "resolve":
		if _, ok := m["payload"]; ok {
			t.Error("resolve with a payload")
		}
	default:
		t.Errorf("event_action %v", m["event_action"])
	}
	return m
}

func TestPayloadsFollowTheSchema(t *testing.T) {
	for _, tc := range []struct {
		ev     *plumbv1.DriftEvent
		action string
		sev    string
	}{
		{event(plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED, plumbv1.Severity_SEVERITY_CRITICAL, "/etc/shadow"), "trigger", "critical"},
		{event(plumbv1.DriftEventType_DRIFT_EVENT_TYPE_UPDATED, plumbv1.Severity_SEVERITY_WARNING, "/etc/x"), "trigger", "warning"},
		{event(plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED, plumbv1.Severity_SEVERITY_UNSPECIFIED, strings.Repeat("/very-long", 300)), "trigger", "info"},
		{event(plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED, plumbv1.Severity_SEVERITY_CRITICAL, "/etc/shadow"), "resolve", ""},
		{event(plumbv1.DriftEventType_DRIFT_EVENT_TYPE_ACCEPTED, plumbv1.Severity_SEVERITY_CRITICAL, "/etc/shadow"), "resolve", ""},
	} {
		b, skip, err := Body(key, tc.ev)
		if err != nil || skip {
			t.Fatal(skip, err)
		}
		m := checkSchema(t, b)
		if m["event_action"] != tc.action || m["dedup_key"] != "item-1" {
			t.Errorf("%v: action %v dedup %v", tc.ev.GetType(), m["event_action"], m["dedup_key"])
		}
		if tc.sev != "" && m["payload"].(map[string]any)["severity"] != tc.sev {
			t.Errorf("%v: severity %v, want %s", tc.ev.GetType(), m["payload"].(map[string]any)["severity"], tc.sev)
		}
	}
}

// TestTriggerThenResolve posts through the notifier the registry builds to
// a receiver that answers as PagerDuty does (202), then refuses (400).
func TestTriggerThenResolve(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	status := http.StatusAccepted
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, checkSchema(t, b))
		w.WriteHeader(status)
	}))
	defer srv.Close()
	ns, err := alert.Build([]map[string]any{{"type": "pagerduty", "name": "pd", "url": srv.URL, "routing_key": key}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := []*plumbv1.DriftEvent{
		event(plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED, plumbv1.Severity_SEVERITY_CRITICAL, "/etc/shadow"),
		event(plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED, plumbv1.Severity_SEVERITY_CRITICAL, "/etc/shadow"),
	}
	if _, err := ns[0].Notify(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0]["event_action"] != "trigger" || got[1]["event_action"] != "resolve" || got[0]["dedup_key"] != got[1]["dedup_key"] {
		t.Fatalf("PagerDuty got %v", got)
	}
	status = http.StatusBadRequest
	if retry, err := ns[0].Notify(context.Background(), evs[:1]); err == nil || retry {
		t.Errorf("a 400: retry %v, err %v; want a permanent error", retry, err)
	}
	if _, err := alert.Build([]map[string]any{{"type": "pagerduty", "routing_key": "short"}}, nil); err == nil {
		t.Error("a short routing key accepted")
	}
}

// A group triggers the incident of each host left with open drift, with
// the host's part summarized, and resolves that of a host whose drift all
// closed; every request follows the schema, even for a host id longer
// than a dedup key may be.
func TestGroupBodyIsAnIncidentPerHost(t *testing.T) {
	long := strings.Repeat("h", 253)
	opened := event(plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED, plumbv1.Severity_SEVERITY_CRITICAL, "/etc/sudoers")
	opened.HostOpenDrift = 1
	again := event(plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED, plumbv1.Severity_SEVERITY_INFO, "/etc/motd")
	again.Item.HostId, again.Item.Id, again.HostOpenDrift = long, "item-2", 1
	closed := event(plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED, plumbv1.Severity_SEVERITY_INFO, "/etc/motd")
	closed.Item.HostId, closed.Item.Id, closed.HostOpenDrift = long, "item-2", 0
	reqs, err := GroupBody(key, &alert.Group{Key: "g1-3", Events: []*plumbv1.DriftEvent{opened, again, closed}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range reqs {
		m := checkSchema(t, r.Body)
		got = append(got, m["event_action"].(string)+" "+m["dedup_key"].(string))
		if m["event_action"] == "trigger" {
			p := m["payload"].(map[string]any)
			if p["severity"] != "critical" || !strings.Contains(p["summary"].(string), "/etc/sudoers") {
				t.Errorf("trigger payload %v", p)
			}
		}
	}
	want := []string{"trigger plumb/web-1", "resolve " + HostDedupKey(long)}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("requests %q, want %q", got, want)
	}
	if len(HostDedupKey(long)) > 255 {
		t.Fatalf("dedup key of %d characters", len(HostDedupKey(long)))
	}
}
