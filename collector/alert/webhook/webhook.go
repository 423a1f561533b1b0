// Package webhook is the generic JSON webhook notifier: one HTTP POST per
// drift event, its body the event's factjson view, signed per the Standard
// Webhooks scheme (webhook-id, webhook-timestamp, webhook-signature) so a
// receiver can check it came from this collector and de-duplicate by id.
//
// It registers itself with package alert as type "webhook", configured by
// an entry of the collector's `webhooks:` list:
//
//	webhooks:
//	  - name: on-call                  # default: webhook<index>
//	    type: webhook                  # the default type
//	    url: https://hooks.example.com/plumb
//	    secret: whsec_...              # empty: requests are unsigned
//	    timeout: 5s                    # per request
//	    headers:
//	      Authorization: Bearer ...
//
// A 2xx response is success; a transport error, a timeout, 408, 429 and
// any 5xx are retried by the Dispatcher; any other status never will
// succeed and is dropped. Errors show the URL as scheme://host only, since
// webhook URLs often carry a token in their path, query or userinfo.
//
// Other JSON-over-HTTP receivers (Slack, PagerDuty) reuse it with a body
// of their own (NewPayload).
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/alert"
	"github.com/plumb-dev/plumb/pkg/factjson"
	"github.com/plumb-dev/plumb/pkg/version"
)

// TypeName is the value of `type` that selects this notifier.
const TypeName = "webhook"

func init() {
	alert.Register(TypeName, func(p alert.Params) (alert.Notifier, error) {
		var cfg Config
		if err := p.Decode(&cfg); err != nil {
			return nil, err
		}
		return NewGrouping(p.Name, cfg, p.Logger, genericBody, genericGroupBody)
	})
}

// Notifier posts drift events to one URL.
type Notifier struct {
	name     string
	url      *url.URL
	redacted string // scheme://host and "/…" if there is a path: what errors and logs show
	key      []byte // HMAC key; nil sends unsigned requests
	timeout  time.Duration
	headers  http.Header
	client   *http.Client
	log      *slog.Logger
	now      func() time.Time // the webhook-timestamp clock
	body     Body
}

// Body renders an event as a request body; skip says the receiver has no
// use for the event (it counts as delivered).
type Body func(ev *plumbv1.DriftEvent) (body []byte, skip bool, err error)

// genericBody is the generic webhook's body: the event's factjson view.
func genericBody(ev *plumbv1.DriftEvent) ([]byte, bool, error) {
	b, err := json.Marshal(factjson.FromEvent(ev))
	return b, false, err
}

var _ alert.Notifier = (*Notifier)(nil)

// New returns a notifier named name that posts to cfg.URL.
func New(name string, cfg Config, logger *slog.Logger) (*Notifier, error) {
	return NewPayload(name, cfg, logger, genericBody)
}

// NewPayload is New with the request body rendered by body.
func NewPayload(name string, cfg Config, logger *slog.Logger, body Body) (*Notifier, error) {
	u, key, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	h := http.Header{}
	for k, v := range cfg.Headers {
		h.Set(k, v)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	return &Notifier{
		name:     name,
		url:      u,
		redacted: redact(u),
		key:      key,
		timeout:  timeout,
		headers:  h,
		client: &http.Client{
			Transport: transport,
			// A redirect is a configuration mistake; following it would
			// send the signed body somewhere else. Report the 3xx instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		log:  logger,
		now:  time.Now,
		body: body,
	}, nil
}

// Name implements alert.Notifier.
func (n *Notifier) Name() string { return n.name }

// Notify posts each event in order, one request each, and stops at the
// first failure, which it reports as an *alert.PartialError so that the
// events before it count as delivered and only the failed one is judged.
func (n *Notifier) Notify(ctx context.Context, events []*plumbv1.DriftEvent) (bool, error) {
	for i, ev := range events {
		if retryable, err := n.post(ctx, ev); err != nil {
			return retryable, &alert.PartialError{
				Delivered: i,
				Err:       fmt.Errorf("event %s: %w", eventID(ev), err),
			}
		}
	}
	return false, nil
}

// post delivers one event; it returns whether a failure may be retried.
func (n *Notifier) post(ctx context.Context, ev *plumbv1.DriftEvent) (bool, error) {
	body, skip, err := n.body(ev)
	if err != nil {
		return false, fmt.Errorf("encode body: %w", err)
	}
	if skip {
		return false, nil
	}
	return n.Post(ctx, eventID(ev), body)
}

// InstanceHeader names the collector instance (alert.Options.Instance)
// that delivered a request.
const InstanceHeader = "Plumb-Collector-Instance"

// Post sends body with the notifier's URL, headers, signature and
// timeout, id as its webhook-id; it returns whether a failure may be
// retried. Notifiers that post more than events (Alertmanager's
// restatements) use it directly.
func (n *Notifier) Post(ctx context.Context, id string, body []byte) (bool, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, n.timeout,
		fmt.Errorf("no response from %s within %s", n.redacted, n.timeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url.String(), bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("build request for %s: %w", n.redacted, stripURL(err))
	}
	for k, v := range n.headers {
		req.Header[k] = v
	}
	ts := strconv.FormatInt(n.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "plumb-collector/"+version.Version)
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", ts)
	if inst, ok := alert.InstanceFrom(ctx); ok {
		// Which collector delivered, when several share a database: a
		// receiver (or a test) can tell a redelivery after a takeover
		// from a double delivery.
		req.Header.Set(InstanceHeader, inst)
	}
	if n.key != nil {
		req.Header.Set("webhook-signature", Sign(n.key, id, ts, body))
	}

	start := time.Now()
	resp, err := n.client.Do(req)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			// Our timeout, or the caller stopping: say which, not just
			// "context deadline exceeded".
			err = cause
		}
		return true, fmt.Errorf("post %s: %w", n.redacted, stripURL(err))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	// Drain a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))

	retryable, err := classify(resp.StatusCode)
	if err != nil {
		return retryable, fmt.Errorf("post %s: %w: %q", n.redacted, err, snippet)
	}
	n.log.Debug("webhook delivered", "event_id", id, "status", resp.StatusCode,
		"duration", time.Since(start))
	return false, nil
}

// classify maps a response status to success, or to an error that is
// retryable (408, 429, 5xx: the receiver may accept the same request
// later) or not (any other status: it never will).
func classify(code int) (retryable bool, err error) {
	switch {
	case code >= 200 && code < 300:
		return false, nil
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return true, &StatusError{Code: code}
	default:
		return false, &StatusError{Code: code}
	}
}

// StatusError is a response the receiver did not accept.
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("status %d %s", e.Code, http.StatusText(e.Code))
}

// eventID is the webhook-id: the event's id, stable across retries so the
// receiver can de-duplicate. Events always have one; the seq stands in
// should one not.
func eventID(ev *plumbv1.DriftEvent) string {
	if id := ev.GetId(); id != "" {
		return id
	}
	return "seq-" + strconv.FormatUint(ev.GetSeq(), 10)
}

// redact returns the URL without userinfo, query or fragment, which may
// carry secrets (tokens in query strings are common in webhook URLs).
func redact(u *url.URL) string {
	r := (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
	if u.Path != "" && u.Path != "/" {
		// The path may be the secret itself (Slack's
		// /services/T…/B…/X…): errors, logs and the API show that
		// there is one, not what it is.
		r += "/…"
	}
	return r
}

// stripURL unwraps a *url.Error, whose message repeats the full URL.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
