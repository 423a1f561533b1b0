package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/alert"
	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/version"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// The published Standard Webhooks test vector: a receiver's off-the-shelf
// library verifies what we send only if this matches exactly.
func TestSignMatchesStandardWebhooksVector(t *testing.T) {
	key, err := parseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

// fileEvent is a drift event on a file whose path is not valid UTF-8.
func fileEvent(id string, seq uint64) *plumbv1.DriftEvent {
	key := []byte("/etc/caf\xe9.conf")
	mk := func(sum byte, mode uint32) *plumbv1.Fact {
		return &plumbv1.Fact{
			Kind:   plumbv1.FactKind_FACT_KIND_FILE,
			Key:    key,
			Digest: []byte{sum, sum, sum},
			Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{
				Type: plumbv1.FileType_FILE_TYPE_REGULAR, Mode: mode, Size: 12,
				Sha256: []byte{sum, 0xff},
			}},
		}
	}
	return &plumbv1.DriftEvent{
		Id:         id,
		Seq:        seq,
		Type:       plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED,
		AtUnixNano: time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC).UnixNano(),
		Item: &plumbv1.DriftItem{
			Id: "item-1", HostId: "db-7", Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: key,
			Change:           plumbv1.DriftChange_DRIFT_CHANGE_MODIFIED,
			Status:           plumbv1.DriftStatus_DRIFT_STATUS_OPEN,
			Baseline:         mk(0xaa, 0o644),
			Current:          mk(0xbb, 0o600),
			ObservedUnixNano: time.Date(2026, 5, 6, 7, 8, 8, 0, time.UTC).UnixNano(),
			DetectedUnixNano: time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC).UnixNano(),
		},
	}
}

// slowServer never answers: it waits until the client goes away or the
// test ends.
func slowServer(t *testing.T) *httptest.Server {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body so the server notices the client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() {
		close(done)
		srv.Close()
	})
	return srv
}

type captured struct {
	method string
	header http.Header
	body   []byte
}

// capture starts a server that records every request and answers code.
func capture(t *testing.T, code int) (*httptest.Server, func() []captured) {
	var (
		mu  sync.Mutex
		got []captured
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, captured{r.Method, r.Header.Clone(), b})
		mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []captured {
		mu.Lock()
		defer mu.Unlock()
		return append([]captured(nil), got...)
	}
}

func newTestNotifier(t *testing.T, cfg Config) *Notifier {
	t.Helper()
	n, err := New("test", cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n
}

// verify checks a Standard Webhooks signature the way a receiver would,
// written here without the package's code.
func verify(t *testing.T, secret string, h http.Header, body []byte) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	signed := h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "." + string(body)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signed))
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		version, b64, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return
		}
	}
	t.Fatalf("webhook-signature %q does not verify", h.Get("webhook-signature"))
}

func TestNotifyPostsSignedEvent(t *testing.T) {
	srv, got := capture(t, http.StatusOK)
	n := newTestNotifier(t, Config{
		URL:     srv.URL + "/hooks/plumb",
		Secret:  testSecret,
		Headers: map[string]string{"X-Team": "ops", "authorization": "Bearer abc"},
	})
	now := time.Date(2026, 5, 6, 7, 8, 10, 0, time.UTC)
	n.now = func() time.Time { return now }

	ev := fileEvent("evt-42", 42)
	if retryable, err := n.Notify(context.Background(), []*plumbv1.DriftEvent{ev}); err != nil {
		t.Fatalf("Notify = %v (retryable %v)", err, retryable)
	}
	reqs := got()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	for name, want := range map[string]string{
		"Content-Type":      "application/json",
		"User-Agent":        "plumb-collector/" + version.Version,
		"webhook-id":        "evt-42",
		"webhook-timestamp": strconv.FormatInt(now.Unix(), 10),
		"X-Team":            "ops",
		"Authorization":     "Bearer abc",
	} {
		if g := r.header.Get(name); g != want {
			t.Errorf("header %s = %q, want %q", name, g, want)
		}
	}
	if r.method != http.MethodPost {
		t.Errorf("method %s, want POST", r.method)
	}
	verify(t, testSecret, r.header, r.body)

	var body struct {
		ID         string `json:"id"`
		Type       string `json:"type"`
		Seq        uint64 `json:"seq"`
		Host       string `json:"host"`
		Kind       string `json:"kind"`
		Key        string `json:"key"`
		Change     string `json:"change"`
		ObservedAt string `json:"observed_at"`
		DetectedAt string `json:"detected_at"`
		Baseline   struct {
			Digest     string         `json:"digest"`
			Attributes map[string]any `json:"attributes"`
		} `json:"baseline"`
		Current struct {
			Digest     string         `json:"digest"`
			Attributes map[string]any `json:"attributes"`
		} `json:"current"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.body)
	}
	wantKey := fact.Display([]byte("/etc/caf\xe9.conf"))
	checks := []struct{ name, got, want string }{
		{"id", body.ID, "evt-42"},
		{"type", body.Type, "drift.opened"},
		{"host", body.Host, "db-7"},
		{"kind", body.Kind, "file"},
		{"key", body.Key, wantKey},
		{"change", body.Change, "modified"},
		{"observed_at", body.ObservedAt, "2026-05-06T07:08:08Z"},
		{"detected_at", body.DetectedAt, "2026-05-06T07:08:09Z"},
		{"baseline.digest", body.Baseline.Digest, hex.EncodeToString([]byte{0xaa, 0xaa, 0xaa})},
		{"current.digest", body.Current.Digest, hex.EncodeToString([]byte{0xbb, 0xbb, 0xbb})},
		{"baseline.attributes.mode", body.Baseline.Attributes["mode"].(string), "0644"},
		{"current.attributes.mode", body.Current.Attributes["mode"].(string), "0600"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("body %s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if body.Seq != 42 {
		t.Errorf("body seq = %d, want 42", body.Seq)
	}
	if !utf8.ValidString(body.Key) || body.Key == "/etc/caf\xe9.conf" {
		t.Errorf("key %q should be shown as valid, escaped UTF-8", body.Key)
	}
}

func TestNotifyUnsignedWithoutSecret(t *testing.T) {
	srv, got := capture(t, http.StatusNoContent)
	n := newTestNotifier(t, Config{URL: srv.URL})
	if _, err := n.Notify(context.Background(), []*plumbv1.DriftEvent{fileEvent("e", 1)}); err != nil {
		t.Fatal(err)
	}
	h := got()[0].header
	if s := h.Get("webhook-signature"); s != "" {
		t.Errorf("unsigned notifier sent webhook-signature %q", s)
	}
	if h.Get("webhook-id") != "e" || h.Get("webhook-timestamp") == "" {
		t.Errorf("webhook-id/-timestamp missing: %v", h)
	}
}

func TestStatusClassification(t *testing.T) {
	for _, tc := range []struct {
		code      int
		ok        bool
		retryable bool
	}{
		{200, true, false}, {201, true, false}, {202, true, false}, {204, true, false},
		{408, false, true}, {429, false, true}, {500, false, true}, {502, false, true}, {503, false, true},
		{400, false, false}, {401, false, false}, {403, false, false}, {404, false, false},
		{410, false, false}, {413, false, false}, {422, false, false},
	} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			srv, _ := capture(t, tc.code)
			n := newTestNotifier(t, Config{URL: srv.URL})
			retryable, err := n.Notify(context.Background(), []*plumbv1.DriftEvent{fileEvent("e", 1)})
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && retryable != tc.retryable {
				t.Fatalf("retryable = %v, want %v (err %v)", retryable, tc.retryable, err)
			}
			var se *StatusError
			if err != nil && (!errors.As(err, &se) || se.Code != tc.code) {
				t.Fatalf("err %v does not carry StatusError %d", err, tc.code)
			}
		})
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var followed sync.Once
	hit := false
	mux := http.NewServeMux()
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/new", http.StatusPermanentRedirect)
	})
	mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) { followed.Do(func() { hit = true }) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	n := newTestNotifier(t, Config{URL: srv.URL + "/old"})
	retryable, err := n.Notify(context.Background(), []*plumbv1.DriftEvent{fileEvent("e", 1)})
	if err == nil || retryable {
		t.Fatalf("redirect: err %v retryable %v, want a permanent error", err, retryable)
	}
	srv.Close()
	if hit {
		t.Fatal("redirect was followed")
	}
}

func TestNotifyStopsAtFirstFailure(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("webhook-id"))
		mu.Unlock()
		if r.Header.Get("webhook-id") == "b" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	n := newTestNotifier(t, Config{URL: srv.URL})
	evs := []*plumbv1.DriftEvent{fileEvent("a", 1), fileEvent("b", 2), fileEvent("c", 3)}
	retryable, err := n.Notify(context.Background(), evs)
	var pe *alert.PartialError
	if !errors.As(err, &pe) || pe.Delivered != 1 || !retryable {
		t.Fatalf("Notify = (%v, %v), want retryable PartialError{Delivered: 1}", retryable, err)
	}
	if !strings.Contains(err.Error(), "event b") {
		t.Errorf("error %q does not name the failed event", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, ",") != "a,b" {
		t.Fatalf("requests for %v, want a,b (stop at the failure)", seen)
	}
}

// Secrets in the URL (userinfo, query) never reach error messages.
func TestErrorsHideURLSecrets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()

	slow := slowServer(t)
	failing, _ := capture(t, http.StatusBadGateway)

	secrets := []string{"alice", "pa55word", "s3cret", "frag", "/hook"}
	const suffix = "/hook?token=s3cret#frag"
	for _, tc := range []struct {
		name, url string
		timeout   time.Duration
		mention   string
	}{
		{"refused", "http://alice:pa55word@" + closedAddr + suffix, 0, "http://" + closedAddr + "/…"},
		{"timeout", strings.Replace(slow.URL, "http://", "http://alice:pa55word@", 1) + suffix, 50 * time.Millisecond, "within 50ms"},
		{"status", strings.Replace(failing.URL, "http://", "http://alice:pa55word@", 1) + suffix, 0, "502"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNotifier(t, Config{URL: tc.url, Timeout: tc.timeout})
			start := time.Now()
			retryable, err := n.Notify(context.Background(), []*plumbv1.DriftEvent{fileEvent("e", 1)})
			if err == nil || !retryable {
				t.Fatalf("Notify = (%v, %v), want a retryable error", retryable, err)
			}
			if tc.timeout > 0 && time.Since(start) > 5*time.Second {
				t.Errorf("timeout of %v took %v", tc.timeout, time.Since(start))
			}
			msg := err.Error()
			for _, s := range secrets {
				if strings.Contains(msg, s) {
					t.Errorf("error leaks %q: %s", s, msg)
				}
			}
			if !strings.Contains(msg, tc.mention) {
				t.Errorf("error %q does not mention %q", msg, tc.mention)
			}
		})
	}

	_, err = New("x", Config{URL: "http://alice:pa55word@[::1/hook?token=s3cret"}, nil)
	if err == nil {
		t.Fatal("malformed URL accepted")
	}
	for _, s := range secrets[:3] { // the URL does not parse: its path is not known
		if strings.Contains(err.Error(), s) {
			t.Errorf("config error leaks %q: %v", s, err)
		}
	}
}

func TestCallerCancelIsRetryable(t *testing.T) {
	slow := slowServer(t)
	n := newTestNotifier(t, Config{URL: slow.URL, Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	retryable, err := n.Notify(ctx, []*plumbv1.DriftEvent{fileEvent("e", 1)})
	if err == nil || !retryable || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Notify = (%v, %v), want retryable context.DeadlineExceeded", retryable, err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" means valid
	}{
		{"minimal", Config{URL: "http://127.0.0.1:9/x"}, ""},
		{"https with secret", Config{URL: "https://hooks.example.com/p", Secret: testSecret}, ""},
		{"secret without prefix", Config{URL: "https://h/p", Secret: strings.TrimPrefix(testSecret, "whsec_")}, ""},
		{"no url", Config{}, "url is required"},
		{"ftp", Config{URL: "ftp://h/x"}, "not http or https"},
		{"no host", Config{URL: "http:///x"}, "no host"},
		{"secret not base64", Config{URL: "http://h/", Secret: "whsec_!!!"}, "not base64"},
		{"secret too short", Config{URL: "http://h/", Secret: "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))}, "want 24 to 64"},
		{"negative timeout", Config{URL: "http://h/", Timeout: -time.Second}, "negative"},
		{"reserved header", Config{URL: "http://h/", Headers: map[string]string{"Webhook-Signature": "x"}}, "set by the notifier"},
		{"content-type header", Config{URL: "http://h/", Headers: map[string]string{"content-type": "text/plain"}}, "set by the notifier"},
		{"bad header name", Config{URL: "http://h/", Headers: map[string]string{"X Bad": "x"}}, "not a valid HTTP field name"},
		{"header injection", Config{URL: "http://h/", Headers: map[string]string{"X-A": "a\r\nX-B: b"}}, "control character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New("n", tc.cfg, nil)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New = %v, want ok", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("New = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestFactoryDecodesConfig(t *testing.T) {
	ns, err := alert.Build([]map[string]any{{
		"name": "pager", "url": "http://127.0.0.1:9/x", "timeout": "250ms",
		"secret": testSecret, "headers": map[string]any{"X-Env": "prod"},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := alert.Inner(ns[0]).(*Grouping).Notifier
	if n.Name() != "pager" || n.timeout != 250*time.Millisecond || n.headers.Get("X-Env") != "prod" || n.key == nil {
		t.Fatalf("decoded notifier: name %q timeout %v headers %v key set %v", n.Name(), n.timeout, n.headers, n.key != nil)
	}
	ns, err = alert.Build([]map[string]any{{"url": "http://127.0.0.1:9/x"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := alert.Inner(ns[0]).(*Grouping).Notifier; n.timeout != DefaultTimeout {
		t.Fatalf("default timeout %v, want %v", n.timeout, DefaultTimeout)
	}
	_, err = alert.Build([]map[string]any{{"url": "http://127.0.0.1:9/x", "timeuot": "1s"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "timeuot") {
		t.Fatalf("unknown key: err = %v, want it named", err)
	}
}
