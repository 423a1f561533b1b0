// Package alertmanager sends drift to a Prometheus Alertmanager through
// its API v2 (POST /api/v2/alerts): an open drift item is a firing alert
// with the labels alertname, host, kind, key, severity and group; its
// resolution or acceptance ends it (endsAt now). Open items are restated
// every refresh_interval with endsAt three intervals ahead, so an alert
// stays firing while its drift is open, also across collector restarts,
// and ends by itself should the collector go away for good.
//
//	notifiers:
//	  - name: am
//	    type: alertmanager
//	    url: http://alertmanager:9093
//	    # refresh_interval: 1m
package alertmanager

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/alert"
	"github.com/plumb-dev/plumb/collector/alert/webhook"
	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factjson"
)

// TypeName selects this notifier.
const TypeName = "alertmanager"

// DefaultRefresh is how often open items are restated.
const DefaultRefresh = time.Minute

// Config is an alertmanager notifier's entry.
type Config struct {
	// URL is Alertmanager's base URL; /api/v2/alerts is added.
	URL             string        `koanf:"url"`
	Timeout         time.Duration `koanf:"timeout"`
	RefreshInterval time.Duration `koanf:"refresh_interval"`
}

func init() {
	alert.Register(TypeName, func(p alert.Params) (alert.Notifier, error) {
		var cfg Config
		if err := p.Decode(&cfg); err != nil {
			return nil, err
		}
		return New(p.Name, cfg, p)
	})
}

// Notifier posts alerts to one Alertmanager.
type Notifier struct {
	*webhook.Notifier
	every time.Duration
	now   func() time.Time
}

// New returns the notifier.
func New(name string, cfg Config, p alert.Params) (*Notifier, error) {
	if cfg.URL == "" {
		return nil, errors.New("url: Alertmanager's base URL is required, for example http://127.0.0.1:9093")
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = DefaultRefresh
	}
	if cfg.RefreshInterval < time.Second {
		return nil, errors.New("refresh_interval: at least 1s")
	}
	n := &Notifier{every: cfg.RefreshInterval, now: time.Now}
	api := strings.TrimRight(cfg.URL, "/") + "/api/v2/alerts"
	var err error
	n.Notifier, err = webhook.NewPayload(name, webhook.Config{URL: api, Timeout: cfg.Timeout}, p.Logger, n.eventBody)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// Alert is one element of POST /api/v2/alerts.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     string            `json:"startsAt,omitempty"`
	EndsAt       string            `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// alertOf is item's alert, firing until endsAt.
func alertOf(it *plumbv1.DriftItem, endsAt time.Time) Alert {
	key := fact.Display(it.GetKey())
	sev := factjson.Severity(it.GetSeverity())
	if sev == "" {
		sev = "info"
	}
	return Alert{
		Labels: map[string]string{
			"alertname": "PlumbDrift",
			"host":      it.GetHostId(),
			"kind":      fact.KindName(it.GetKind()),
			"key":       key,
			"severity":  sev,
			"group":     "host:" + it.GetHostId(),
			"item_id":   it.GetId(),
		},
		Annotations: map[string]string{
			"summary": fact.KindName(it.GetKind()) + " " + key + " " + factjson.Change(it.GetChange()) + " on " + it.GetHostId(),
			"change":  factjson.Change(it.GetChange()),
			"status":  factjson.Status(it.GetStatus()),
		},
		StartsAt: time.Unix(0, it.GetDetectedUnixNano()).UTC().Format(time.RFC3339Nano),
		EndsAt:   endsAt.UTC().Format(time.RFC3339Nano),
	}
}

// eventBody renders one transition: firing while open, ended at once
// when resolved or accepted.
func (n *Notifier) eventBody(ev *plumbv1.DriftEvent) ([]byte, bool, error) {
	now := n.now()
	endsAt := now.Add(3 * n.every)
	switch ev.GetType() {
	case plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED, plumbv1.DriftEventType_DRIFT_EVENT_TYPE_ACCEPTED:
		endsAt = now
	case plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED, plumbv1.DriftEventType_DRIFT_EVENT_TYPE_UPDATED:
	default:
		return nil, true, nil
	}
	b, err := json.Marshal([]Alert{alertOf(ev.GetItem(), endsAt)})
	return b, false, err
}

// refreshChunk bounds the alerts of one restating request.
const refreshChunk = 500

// RefreshInterval implements alert.Refresher.
func (n *Notifier) RefreshInterval() time.Duration { return n.every }

// Refresh implements alert.Refresher: it restates every open item, in
// requests of at most refreshChunk alerts.
func (n *Notifier) Refresh(ctx context.Context, open []*plumbv1.DriftItem) error {
	for len(open) > 0 {
		chunk := open[:min(refreshChunk, len(open))]
		open = open[len(chunk):]
		endsAt := n.now().Add(3 * n.every)
		alerts := make([]Alert, 0, len(chunk))
		for _, it := range chunk {
			alerts = append(alerts, alertOf(it, endsAt))
		}
		body, err := json.Marshal(alerts)
		if err != nil {
			return err
		}
		if _, err := n.Post(ctx, "refresh", body); err != nil {
			return err
		}
	}
	return nil
}
