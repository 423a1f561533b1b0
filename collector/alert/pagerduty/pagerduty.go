// Package pagerduty sends drift to PagerDuty's Events API v2: an item
// that opens (or changes while open) triggers an alert whose dedup_key is
// the item's id, so it stays one incident; the item's resolution or
// acceptance resolves it.
//
//	notifiers:
//	  - name: pager
//	    type: pagerduty
//	    routing_key: 0123456789abcdef0123456789abcdef   # the service's integration key
//	    # url: https://events.pagerduty.com/v2/enqueue  # the default
//	    filter: {min_severity: critical}
package pagerduty

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/alert"
	"github.com/plumb-dev/plumb/collector/alert/webhook"
	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factjson"
)

// TypeName selects this notifier.
const TypeName = "pagerduty"

// DefaultURL is PagerDuty's Events API v2 endpoint.
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// Config is a pagerduty notifier's entry.
type Config struct {
	URL        string        `koanf:"url"`
	RoutingKey string        `koanf:"routing_key"`
	Timeout    time.Duration `koanf:"timeout"`
}

func init() {
	alert.Register(TypeName, func(p alert.Params) (alert.Notifier, error) {
		var cfg Config
		if err := p.Decode(&cfg); err != nil {
			return nil, err
		}
		if len(cfg.RoutingKey) != 32 {
			return nil, errors.New("routing_key: the service's 32-character integration key is required")
		}
		if cfg.URL == "" {
			cfg.URL = DefaultURL
		}
		key := cfg.RoutingKey
		return webhook.NewGrouping(p.Name, webhook.Config{URL: cfg.URL, Timeout: cfg.Timeout}, p.Logger,
			func(ev *plumbv1.DriftEvent) ([]byte, bool, error) { return Body(key, ev) },
			func(g *alert.Group) ([]webhook.Request, error) { return GroupBody(key, g) })
	})
}

// Event is an Events API v2 request.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"` // trigger or resolve
	DedupKey    string   `json:"dedup_key"`
	Payload     *Payload `json:"payload,omitempty"` // trigger only
	Client      string   `json:"client,omitempty"`
}

// Payload describes a triggered alert.
type Payload struct {
	Summary       string `json:"summary"` // at most 1024 characters
	Source        string `json:"source"`
	Severity      string `json:"severity"` // critical, error, warning or info
	Timestamp     string `json:"timestamp,omitempty"`
	Component     string `json:"component,omitempty"`
	Group         string `json:"group,omitempty"`
	Class         string `json:"class,omitempty"`
	CustomDetails any    `json:"custom_details,omitempty"`
}

const maxSummary = 1024

// Body renders ev for routing key key.
func Body(key string, ev *plumbv1.DriftEvent) ([]byte, bool, error) {
	it := ev.GetItem()
	out := Event{RoutingKey: key, DedupKey: it.GetId(), Client: "Plumb"}
	switch ev.GetType() {
	case plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED, plumbv1.DriftEventType_DRIFT_EVENT_TYPE_UPDATED:
		out.EventAction = "trigger"
		summary := fmt.Sprintf("%s %s %s on %s", fact.KindName(it.GetKind()), fact.Display(it.GetKey()), factjson.Change(it.GetChange()), it.GetHostId())
		if r := []rune(summary); len(r) > maxSummary {
			summary = string(r[:maxSummary-1]) + "…"
		}
		out.Payload = &Payload{
			Summary:       summary,
			Source:        it.GetHostId(),
			Severity:      severity(it.GetSeverity()),
			Timestamp:     factjson.Time(ev.GetAtUnixNano()),
			Component:     fact.Display(it.GetKey()),
			Group:         fact.KindName(it.GetKind()),
			Class:         factjson.Change(it.GetChange()),
			CustomDetails: factjson.FromDriftItem(it),
		}
	case plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED, plumbv1.DriftEventType_DRIFT_EVENT_TYPE_ACCEPTED:
		out.EventAction = "resolve"
	default:
		return nil, true, nil
	}
	b, err := json.Marshal(out)
	return b, false, err
}

// HostDedupKey is the dedup_key of a host's incident when notifications
// are grouped: one incident per host while it has open drift.
// PagerDuty takes dedup keys of at most 255 characters; a longer one is
// hashed.
func HostDedupKey(host string) string {
	if k := "plumb/" + host; len(k) <= 255 {
		return k
	}
	sum := sha256.Sum256([]byte(host))
	return "plumb/sha256:" + hex.EncodeToString(sum[:])
}

// GroupBody renders a group for routing key key. Grouped, an incident is
// a host's open drift: the group triggers the incident of each host with
// an item still open at the end of the window (dedup_key HostDedupKey,
// the summary of that host's part as its details), and resolves it when
// the host's last event in the group leaves it without open drift.
func GroupBody(key string, g *alert.Group) ([]webhook.Request, error) {
	byHost := map[string][]*plumbv1.DriftEvent{}
	var hosts []string
	for _, ev := range g.Events {
		if ev.GetItem() == nil {
			continue // a silence's summary: not an incident
		}
		h := ev.GetItem().GetHostId()
		if _, ok := byHost[h]; !ok {
			hosts = append(hosts, h)
		}
		byHost[h] = append(byHost[h], ev)
	}
	var out []webhook.Request
	for _, h := range hosts {
		events := byHost[h]
		part := &alert.Group{Key: g.Key + "/" + h, Events: events}
		open := false
		for _, gi := range part.Items() {
			open = open || !gi.Closed()
		}
		if open {
			s := part.Summarize()
			summary := s.Title
			if r := []rune(summary); len(r) > maxSummary {
				summary = string(r[:maxSummary-1]) + "…"
			}
			ev := Event{RoutingKey: key, EventAction: "trigger", DedupKey: HostDedupKey(h), Client: "Plumb",
				Payload: &Payload{
					Summary:       summary,
					Source:        h,
					Severity:      severity(part.Severity()),
					Timestamp:     factjson.Time(events[len(events)-1].GetAtUnixNano()),
					Group:         "drift",
					Class:         "drift",
					CustomDetails: s,
				}}
			b, err := json.Marshal(ev)
			if err != nil {
				return nil, err
			}
			out = append(out, webhook.Request{ID: part.Key + "/trigger", Body: b})
		}
		if events[len(events)-1].GetHostOpenDrift() == 0 {
			b, err := json.Marshal(Event{RoutingKey: key, EventAction: "resolve", DedupKey: HostDedupKey(h), Client: "Plumb"})
			if err != nil {
				return nil, err
			}
			out = append(out, webhook.Request{ID: part.Key + "/resolve", Body: b})
		}
	}
	return out, nil
}

// severity maps Plumb's severity onto PagerDuty's.
func severity(s plumbv1.Severity) string {
	switch s {
	case plumbv1.Severity_SEVERITY_CRITICAL:
		return "critical"
	case plumbv1.Severity_SEVERITY_WARNING:
		return "warning"
	default:
		return "info"
	}
}
