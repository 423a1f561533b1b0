package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The collector's HTTP API (--http-listen) from a plain net/http client
// that trusts the collector's CA, as curl --cacert would.

type httpAPI struct {
	base   string
	client *http.Client
	// admin is the collector's admin token (admin.token in its data dir).
	admin string
}

// startHTTPHost is enrolledHostHook with the collector's HTTP API on:
// a TLS collector, an agent for host watching tree (one file, "a") with
// its baseline taken, and a client of the HTTP API.
func startHTTPHost(t *testing.T, host string, extra ...string) (api *httpAPI, c *collector, tree string, agent *proc) {
	t.Helper()
	httpAddr := freeAddr(t)
	_, c, tree, agent = enrolledHostHook(t, host, "agent", "", append([]string{"--http-listen", httpAddr}, extra...)...)
	return newHTTPAPI(t, c, httpAddr), c, tree, agent
}

// newHTTPAPI is a client of the HTTP API of c at addr, waiting until it
// answers /healthz.
func newHTTPAPI(t *testing.T, c *collector, addr string) *httpAPI {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: collectorTLS(t, c, nil), ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	_, port, _ := strings.Cut(addr, ":")
	admin, err := os.ReadFile(filepath.Join(c.data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	api := &httpAPI{
		// The server certificate names localhost.
		base:   "https://localhost:" + port,
		client: &http.Client{Transport: tr, Timeout: 60 * time.Second},
		admin:  strings.TrimSpace(string(admin)),
	}
	waitFor(t, 15*time.Second, "the HTTP API's /healthz", func() bool {
		code, _, _ := api.call(t, "GET", "/healthz", "", nil)
		return code == http.StatusOK
	})
	return api
}

// call sends a request with token (none when empty) and body (JSON, none
// when nil) and returns the status, body and headers. A transport error
// is status 0.
func (a *httpAPI) call(t *testing.T, method, path, token string, body any) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, []byte(err.Error()), nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, []byte(err.Error()), nil
	}
	return resp.StatusCode, b, resp.Header
}

// json calls and decodes a 200 reply into v; any other status fails.
func (a *httpAPI) json(t *testing.T, method, path, token string, body, v any) {
	t.Helper()
	code, b, _ := a.call(t, method, path, token, body)
	if code != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s %s: %v\n%s", method, path, err, b)
	}
}

// apiError is the HTTP API's error body.
type apiError struct {
	Code    *int   `json:"code"`
	Message string `json:"message"`
}

// wantError checks a refused call: the HTTP status, and a JSON body with
// the gRPC code and a message containing msg.
func wantError(t *testing.T, what string, code int, body []byte, status, grpcCode int, msg string) {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Errorf("%s: body is not JSON (%v): %s", what, err, body)
		return
	}
	if code != status || e.Code == nil || *e.Code != grpcCode || !strings.Contains(e.Message, msg) {
		t.Errorf("%s: %d %s, want %d with code %d and %q in the message", what, code, body, status, grpcCode, msg)
	}
}

// createToken makes an API token of role through the HTTP API.
func (a *httpAPI) createToken(t *testing.T, role, name string) string {
	t.Helper()
	var tok struct {
		Token string `json:"token"`
		Role  string `json:"role"`
	}
	a.json(t, "POST", "/v1/api-tokens", a.admin, map[string]any{"role": role, "name": name}, &tok)
	if tok.Token == "" || tok.Role != role {
		t.Fatalf("POST /v1/api-tokens: %+v", tok)
	}
	return tok.Token
}

// TestHTTPHostsAndRoles: GET /v1/hosts lists a real agent's host with the
// proto field names; a call without a token is 401, with a token the
// collector does not know 401, a viewer's accept 403, an operator's
// token creation 403, each with the JSON error body; the viewer may list.
func TestHTTPHostsAndRoles(t *testing.T) {
	t.Parallel()
	api, _, _, _ := startHTTPHost(t, "http-hosts-1")

	var hosts struct {
		Hosts []struct {
			HostID      string `json:"host_id"`
			HasBaseline bool   `json:"has_baseline"`
			FactCount   string `json:"fact_count"`
			Connected   bool   `json:"connected"`
		} `json:"hosts"`
	}
	api.json(t, "GET", "/v1/hosts", api.admin, nil, &hosts)
	if len(hosts.Hosts) != 1 || hosts.Hosts[0].HostID != "http-hosts-1" || !hosts.Hosts[0].HasBaseline ||
		hosts.Hosts[0].FactCount == "" || hosts.Hosts[0].FactCount == "0" {
		t.Fatalf("GET /v1/hosts: %+v", hosts)
	}

	code, body, hdr := api.call(t, "GET", "/v1/hosts", "", nil)
	wantError(t, "no token", code, body, http.StatusUnauthorized, 16, "needs an API token")
	if !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no token: WWW-Authenticate %q, want Bearer", hdr.Get("WWW-Authenticate"))
	}
	code, body, _ = api.call(t, "GET", "/v1/hosts", "plumb_api.0000000000000000.forged", nil)
	wantError(t, "forged token", code, body, http.StatusUnauthorized, 16, "API token")

	viewer := api.createToken(t, "ROLE_VIEWER", "vera")
	operator := api.createToken(t, "ROLE_OPERATOR", "otto")
	code, body, _ = api.call(t, "POST", "/v1/hosts/http-hosts-1/drift:accept", viewer, map[string]any{"reason": "x"})
	wantError(t, "viewer accepts", code, body, http.StatusForbidden, 7, "operator role")
	code, body, _ = api.call(t, "POST", "/v1/api-tokens", operator, map[string]any{"role": "ROLE_VIEWER"})
	wantError(t, "operator creates a token", code, body, http.StatusForbidden, 7, "admin role")
	code, body, _ = api.call(t, "GET", "/v1/notifiers", viewer, nil)
	wantError(t, "viewer lists notifiers", code, body, http.StatusForbidden, 7, "operator role")

	api.json(t, "GET", "/v1/hosts", viewer, nil, &hosts)
	if len(hosts.Hosts) != 1 || hosts.Hosts[0].HostID != "http-hosts-1" {
		t.Fatalf("GET /v1/hosts as viewer: %+v", hosts)
	}
	// The operator accepts (nothing is open: an empty list, not an error).
	var acc struct {
		Accepted []any `json:"accepted"`
	}
	api.json(t, "POST", "/v1/hosts/http-hosts-1/drift:accept", operator, map[string]any{"reason": "nothing"}, &acc)
	if acc.Accepted == nil || len(acc.Accepted) != 0 {
		t.Errorf("operator accepts no drift: %+v, want an empty list", acc)
	}
	// A malformed body is the caller's error.
	code, body, _ = api.call(t, "POST", "/v1/hosts/http-hosts-1/drift:accept", operator, map[string]any{"no_such_field": 1})
	wantError(t, "unknown field", code, body, http.StatusBadRequest, 3, "no_such_field")
}

// sseEvent is one server-sent event as a client reads it.
type sseEvent struct {
	ID    string
	Event string
	Data  string
}

// sseStream reads server-sent events from an open watch.
type sseStream struct {
	resp   *http.Response
	cancel context.CancelFunc
	events chan sseEvent
	// done is closed when the stream ends; err says why.
	done chan struct{}
	err  error
}

// watch opens GET path (the watch) with token and lastID as the
// Last-Event-ID header (none when empty); it fails the test unless the
// collector answers 200 with text/event-stream.
func (a *httpAPI) watch(t *testing.T, path, token, lastID string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", a.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	// No client timeout: the stream is long-lived; cancel ends it.
	resp, err := (&http.Client{Transport: a.client.Transport}).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("GET %s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	s := &sseStream{resp: resp, cancel: cancel, events: make(chan sseEvent, 10000), done: make(chan struct{})}
	go s.read()
	t.Cleanup(s.close)
	return s
}

// read parses the stream (the WHATWG event-stream format: field lines,
// comments starting with ':', a blank line ending an event).
func (s *sseStream) read() {
	defer close(s.done)
	br := bufio.NewReader(s.resp.Body)
	var ev sseEvent
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			s.err = err
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.Data != "" {
				s.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.ID = value
			case "event":
				ev.Event = value
			case "data":
				if ev.Data != "" {
					ev.Data += "\n"
				}
				ev.Data += value
			}
		}
	}
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
	<-s.done
}

// next returns the next drift event (default type, with an id) within d.
func (s *sseStream) next(t *testing.T, d time.Duration) (event, uint64) {
	t.Helper()
	select {
	case ev := <-s.events:
		if ev.Event != "" {
			t.Fatalf("watch: %q event %s", ev.Event, ev.Data)
		}
		var e event
		if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
			t.Fatalf("watch: event data: %v\n%s", err, ev.Data)
		}
		id, err := strconv.ParseUint(ev.ID, 10, 64)
		if err != nil || id != e.Seq {
			t.Fatalf("watch: event id %q, seq %d: want the seq as id", ev.ID, e.Seq)
		}
		return e, id
	case <-s.done:
		t.Fatalf("watch ended: %v", s.err)
	case <-time.After(d):
		t.Fatalf("no watch event in %v", d)
	}
	panic("unreachable")
}

// TestHTTPWatchResume: a real agent's file change arrives on the SSE
// watch; after a disconnect, changes made meanwhile and after are all
// read on reconnecting with Last-Event-ID (the URL's stale after_seq
// loses to it): the seqs continue from the last one read, with no gap and
// no repeat (the event log numbers every commit's events one after
// another), and each file's last event says what the disk has.
func TestHTTPWatchResume(t *testing.T) {
	t.Parallel()
	const host = "http-sse-1"
	api, _, tree, _ := startHTTPHost(t, host)
	viewer := api.createToken(t, "ROLE_VIEWER", "watcher")
	key := func(name string) string { return filepath.Join(tree, name) }

	w := api.watch(t, "/v1/drift:watch", viewer, "")
	writeFile(t, key("b"), "b\n")
	var last uint64
	for {
		ev, seq := w.next(t, 30*time.Second)
		if last != 0 && seq != last+1 {
			t.Fatalf("first watch: seq %d after %d", seq, last)
		}
		last = seq
		if is("drift.opened", host, "added", key("b"))(ev) {
			break
		}
	}
	w.close()

	// While no one watches: modify a, add c and d, remove b.
	writeFile(t, key("a"), "a changed\n")
	writeFile(t, key("c"), "c\n")
	writeFile(t, key("d"), "d\n")
	if err := os.Remove(key("b")); err != nil {
		t.Fatal(err)
	}
	// The collector has them (the drift list says what the disk does)
	// before the watch resumes, so they are in the past.
	waitFor(t, 30*time.Second, "drift of a, c, d open and b closed", func() bool {
		open := api.openDrift(t, host)
		return open[key("a")] == sha(t, key("a")) && open[key("c")] == sha(t, key("c")) &&
			open[key("d")] == sha(t, key("d")) && open[key("b")] == ""
	})

	w = api.watch(t, "/v1/drift:watch?after_seq=1", viewer, strconv.FormatUint(last, 10))
	// And one more change while watching, then the sentinel.
	writeFile(t, key("e"), "e\n")
	writeFile(t, key("zz-sentinel"), "z\n")
	lastOf := map[string]event{}
	for {
		ev, seq := w.next(t, 30*time.Second)
		if seq != last+1 {
			t.Fatalf("resumed watch: seq %d after %d: want every event once, in order", seq, last)
		}
		last = seq
		if ev.Host != host {
			t.Fatalf("event of host %q", ev.Host)
		}
		lastOf[ev.Key] = ev
		if is("drift.opened", host, "added", key("zz-sentinel"))(ev) {
			break
		}
	}
	for _, name := range []string{"a", "c", "d", "e"} {
		ev, ok := lastOf[key(name)]
		if !ok {
			t.Errorf("%s changed on disk; no event after the disconnect", name)
			continue
		}
		attrs, _ := ev.Current["attributes"].(map[string]any)
		if (ev.Type != "drift.opened" && ev.Type != "drift.updated") || attrs["sha256"] != sha(t, key(name)) {
			t.Errorf("%s: last event %s current %v; disk sha256 %x", name, ev.Type, ev.Current, shaBytes(t, key(name)))
		}
	}
	if ev := lastOf[key("b")]; ev.Type != "drift.resolved" {
		t.Errorf("b removed from disk: last event %q, want drift.resolved", ev.Type)
	}
	// GET /v1/drift/{id}: the item an event names.
	var got struct {
		Item struct {
			ID     string `json:"id"`
			Key    []byte `json:"key"`
			Status string `json:"status"`
		} `json:"item"`
	}
	api.json(t, "GET", "/v1/drift/"+url.PathEscape(lastOf[key("c")].ItemID), viewer, nil, &got)
	if got.Item.ID != lastOf[key("c")].ItemID || string(got.Item.Key) != key("c") || got.Item.Status != "DRIFT_STATUS_OPEN" {
		t.Errorf("GET /v1/drift/%s: %+v", lastOf[key("c")].ItemID, got.Item)
	}
	code, body, _ := api.call(t, "GET", "/v1/drift/no-such-item", viewer, nil)
	wantError(t, "unknown drift item", code, body, http.StatusNotFound, 5, "")
}

// openDrift is host's open drift items through GET /v1/drift: the sha256
// (base64, as proto3 JSON has bytes) of each file item's current value
// by path ("" for a removal).
func (a *httpAPI) openDrift(t *testing.T, host string) map[string]string {
	t.Helper()
	var resp struct {
		Items []struct {
			Key     []byte `json:"key"`
			Kind    string `json:"kind"`
			Status  string `json:"status"`
			Current *struct {
				File struct {
					Sha256 []byte `json:"sha256"`
				} `json:"file"`
			} `json:"current"`
		} `json:"items"`
	}
	a.json(t, "GET", "/v1/drift?host_id="+host, a.admin, nil, &resp)
	out := map[string]string{}
	for _, it := range resp.Items {
		if it.Kind != "FACT_KIND_FILE" || it.Status != "DRIFT_STATUS_OPEN" {
			t.Fatalf("GET /v1/drift: item %s %s %s", it.Key, it.Kind, it.Status)
		}
		s := ""
		if it.Current != nil {
			s = hex.EncodeToString(it.Current.File.Sha256)
		}
		out[string(it.Key)] = s
	}
	return out
}

func shaBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return s[:]
}

func sha(t *testing.T, path string) string { return hex.EncodeToString(shaBytes(t, path)) }

// TestHTTPFactsPagingAndDocs: GET /v1/hosts/{host}/facts pages through a
// real agent's facts with page_size and page_token while files keep being
// added: every file on disk before the paging began is listed exactly
// once, no key twice, and the last page's next_page_token is "". Also
// /healthz, /readyz and /openapi.json (no token needed), and an unknown
// path under /v1 is a JSON 404.
func TestHTTPFactsPagingAndDocs(t *testing.T) {
	t.Parallel()
	const host = "http-facts-1"
	api, _, tree, _ := startHTTPHost(t, host)
	const files, pageSize = 10000, 250
	for i := range files {
		writeFile(t, filepath.Join(tree, fmt.Sprintf("f%05d", i)), fmt.Sprintf("%d\n", i))
	}
	listAll := func(pageSize int) (keys []string, pages int) {
		token := ""
		for {
			var resp struct {
				Facts []struct {
					Key []byte `json:"key"`
				} `json:"facts"`
				NextPageToken *string `json:"next_page_token"`
			}
			q := url.Values{"page_token": {token}}
			if pageSize > 0 {
				q.Set("page_size", strconv.Itoa(pageSize))
			}
			api.json(t, "GET", "/v1/hosts/"+host+"/facts?"+q.Encode(), api.admin, nil, &resp)
			if resp.NextPageToken == nil || resp.Facts == nil {
				t.Fatalf("facts page: next_page_token or facts missing (fields at their default are written)")
			}
			if pageSize > 0 && len(resp.Facts) > pageSize {
				t.Fatalf("page of %d facts, page_size %d", len(resp.Facts), pageSize)
			}
			for _, f := range resp.Facts {
				keys = append(keys, string(f.Key))
			}
			pages++
			if token = *resp.NextPageToken; token == "" {
				return keys, pages
			}
		}
	}
	waitFor(t, 2*time.Minute, "every file among the host's facts", func() bool {
		keys, _ := listAll(0)
		return len(keys) >= files+2 // the files, a and the tree
	})

	stop := make(chan struct{})
	writing := make(chan struct{})
	go func() {
		defer close(writing)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Before, among and after the existing keys.
			for _, p := range []string{"e", "f05000x", "g"} {
				os.WriteFile(filepath.Join(tree, fmt.Sprintf("%s-new%04d", p, i)), []byte("n\n"), 0o644)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	keys, pages := listAll(pageSize)
	close(stop)
	<-writing
	seen := map[string]int{}
	for _, k := range keys {
		seen[k]++
		if seen[k] == 2 {
			t.Errorf("fact %s listed twice", k)
		}
	}
	for i := range files {
		if k := filepath.Join(tree, fmt.Sprintf("f%05d", i)); seen[k] != 1 {
			t.Errorf("file %s on disk: listed %d times", k, seen[k])
		}
	}
	if pages < files/pageSize {
		t.Errorf("%d facts in %d pages of %d", len(keys), pages, pageSize)
	}
	t.Logf("%d facts in %d pages of %d while files were added before, among and after them", len(keys), pages, pageSize)

	for _, p := range []string{"/healthz", "/readyz", "/openapi.json"} {
		code, body, _ := api.call(t, "GET", p, "", nil)
		if code != http.StatusOK {
			t.Errorf("GET %s without a token: %d %s", p, code, body)
		}
	}
	var ready struct {
		Ready  bool              `json:"ready"`
		Checks map[string]string `json:"checks"`
	}
	api.json(t, "GET", "/readyz", "", nil, &ready)
	if !ready.Ready || ready.Checks["store"] != "ok" || ready.Checks["ingest"] != "ok" {
		t.Errorf("/readyz: %+v", ready)
	}
	var doc struct {
		Swagger string                    `json:"swagger"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	api.json(t, "GET", "/openapi.json", "", nil, &doc)
	for path, method := range map[string]string{
		"/v1/hosts": "get", "/v1/hosts/{host_id}/facts": "get", "/v1/drift": "get", "/v1/drift/{id}": "get",
		"/v1/hosts/{host_id}/drift:accept": "post", "/v1/drift:watch": "get", "/v1/notifiers": "get",
		"/v1/silences": "post", "/v1/api-tokens": "get",
	} {
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("/openapi.json (swagger %q): no %s %s", doc.Swagger, method, path)
		}
	}
	code, body, _ := api.call(t, "GET", "/v1/no-such-thing", api.admin, nil)
	wantError(t, "unknown path", code, body, http.StatusNotFound, 5, "")
}
