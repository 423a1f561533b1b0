package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/plumb-dev/plumb/collector/alert"
	"github.com/plumb-dev/plumb/pkg/factjson"
)

// Request is one HTTP request of a notification: its body and its
// webhook-id, the receiver's idempotency key.
type Request struct {
	ID   string
	Body []byte
}

// GroupBody renders a group as the requests that deliver it, in order.
// None means the receiver has no use for the group (it counts as
// delivered).
type GroupBody func(g *alert.Group) ([]Request, error)

// Grouping is a Notifier that also takes groups (alert.GroupNotifier): a
// notifier built from the collector's configuration gets each window of
// events as one notification rendered by its GroupBody.
type Grouping struct {
	*Notifier
	group GroupBody
}

var _ alert.GroupNotifier = (*Grouping)(nil)

// NewGrouping returns a notifier that posts each event rendered by body
// when called with events, and each group rendered by group when called
// with groups.
func NewGrouping(name string, cfg Config, logger *slog.Logger, body Body, group GroupBody) (*Grouping, error) {
	n, err := NewPayload(name, cfg, logger, body)
	if err != nil {
		return nil, err
	}
	return &Grouping{Notifier: n, group: group}, nil
}

// NotifyGroup implements alert.GroupNotifier: it posts g's requests in
// order and stops at the first failure. A retry posts them all again,
// under the same ids.
func (n *Grouping) NotifyGroup(ctx context.Context, g *alert.Group) (bool, error) {
	reqs, err := n.group(g)
	if err != nil {
		return false, fmt.Errorf("notification %s: encode body: %w", g.Key, err)
	}
	for _, r := range reqs {
		if retryable, err := n.Post(ctx, r.ID, r.Body); err != nil {
			return retryable, fmt.Errorf("notification %s: %w", r.ID, err)
		}
	}
	return false, nil
}

// GroupPayload is the generic webhook's body for a group: type
// "drift.group", the summary, and every event of the group as the
// per-event body would render it, in log order.
type GroupPayload struct {
	Type string `json:"type"`
	*alert.Summary
	Events []*factjson.Event `json:"events"`
}

// genericGroupBody renders g as one request whose webhook-id is the
// group's key.
func genericGroupBody(g *alert.Group) ([]Request, error) {
	p := GroupPayload{Type: "drift.group", Summary: g.Summarize()}
	for _, ev := range g.Events {
		p.Events = append(p.Events, factjson.FromEvent(ev))
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return []Request{{ID: g.Key, Body: b}}, nil
}
