package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
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
