package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// fakeQuery is a QueryService whose WatchDrift plays a script.
type fakeQuery struct {
	plumbv1.UnimplementedQueryServiceServer
	watch func(*plumbv1.WatchDriftRequest, grpc.ServerStreamingServer[plumbv1.WatchDriftResponse]) error
}

func (f *fakeQuery) WatchDrift(req *plumbv1.WatchDriftRequest, s grpc.ServerStreamingServer[plumbv1.WatchDriftResponse]) error {
	return f.watch(req, s)
}

// serve is the handler in front of q, reached over an in-memory
// connection as the collector does.
func serve(t *testing.T, q plumbv1.QueryServiceServer, o Options) *httptest.Server {
	t.Helper()
	ln := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	plumbv1.RegisterQueryServiceServer(gs, q)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///test",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	o.Conn = conn
	h, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// The served document is the checked-in one, and it has every HTTP rule
// of proto/plumb/v1/http.yaml (a rule the generator dropped, or a
// document not regenerated after a rule was added, fails).
func TestOpenAPIHasEveryRule(t *testing.T) {
	srv := serve(t, &fakeQuery{}, Options{})
	resp := get(t, srv.URL+PathOpenAPI, nil)
	served, _ := io.ReadAll(resp.Body)
	onDisk, err := os.ReadFile("openapi.swagger.json")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !bytes.Equal(served, onDisk) {
		t.Fatalf("GET %s: %d, %d bytes; the checked-in document has %d", PathOpenAPI, resp.StatusCode, len(served), len(onDisk))
	}
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(served, &doc); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "proto", "plumb", "v1", "http.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := yaml.Parser().Unmarshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	rules, _ := cfg["http"].(map[string]any)["rules"].([]any)
	if len(rules) < 10 {
		t.Fatalf("http.yaml: %d rules", len(rules))
	}
	for _, r := range rules {
		rule := r.(map[string]any)
		sel := rule["selector"].(string)
		found := false
		for _, m := range []string{"get", "post", "put", "patch", "delete"} {
			p, ok := rule[m].(string)
			if !ok {
				continue
			}
			found = true
			op, ok := doc.Paths[p][m]
			// operationId is Service_Method.
			parts := strings.Split(sel, ".")
			want := parts[len(parts)-2] + "_" + parts[len(parts)-1]
			if !ok || op.OperationID != want {
				t.Errorf("rule %s (%s %s): OpenAPI has %+v", sel, m, p, doc.Paths[p])
			}
		}
		if !found {
			t.Errorf("rule %s has no method", sel)
		}
	}
}

// /readyz runs its checks against a real store: ready while it is open,
// 503 naming the store once it is closed. /healthz answers regardless.
func TestReadyz(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "plumb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := serve(t, &fakeQuery{}, Options{Ready: map[string]func(context.Context) error{
		"store": func(ctx context.Context) error {
			return st.View(ctx, func(tx store.ReadTx) error { _, err := tx.LastEventSeq(); return err })
		},
		"other": func(context.Context) error { return nil },
	}})
	check := func(wantCode int, wantStore string) {
		t.Helper()
		resp := get(t, srv.URL+PathReadyz, nil)
		var r readiness
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != wantCode || r.Ready != (wantCode == 200) || !strings.Contains(r.Checks["store"], wantStore) || r.Checks["other"] != "ok" {
			t.Errorf("/readyz: %d %+v, want %d and store %q", resp.StatusCode, r, wantCode, wantStore)
		}
	}
	check(http.StatusOK, "ok")
	st.Close()
	check(http.StatusServiceUnavailable, "not open")
	if resp := get(t, srv.URL+PathHealthz, nil); resp.StatusCode != 200 {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
}

// readSSE returns the stream's lines until it ends or until stop says so.
func readSSE(t *testing.T, body io.Reader, stop func(lines []string) bool) []string {
	t.Helper()
	var lines []string
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if stop(lines) {
			break
		}
	}
	return lines
}

// The watch passes the bearer token and the resume position to
// WatchDrift (Last-Event-ID over after_seq), writes each event with its
// seq as id, sends heartbeats while idle, and ends with an "end" event
// carrying the status when the collector ends the watch.
func TestWatchEventsHeartbeatAndEnd(t *testing.T) {
	gotReq := make(chan *plumbv1.WatchDriftRequest, 1)
	gotAuth := make(chan []string, 1)
	q := &fakeQuery{watch: func(req *plumbv1.WatchDriftRequest, s grpc.ServerStreamingServer[plumbv1.WatchDriftResponse]) error {
		md, _ := metadata.FromIncomingContext(s.Context())
		gotReq <- req
		gotAuth <- md.Get("authorization")
		if err := s.SendHeader(metadata.MD{}); err != nil {
			return err
		}
		ev := &plumbv1.DriftEvent{Seq: 42, Type: plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED,
			Item: &plumbv1.DriftItem{HostId: "web-1", Key: []byte("/etc/x")}}
		if err := s.Send(&plumbv1.WatchDriftResponse{Event: ev}); err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond) // idle: heartbeats
		return status.Error(codes.ResourceExhausted, "watcher did not read; resume with after_seq 42")
	}}
	srv := serve(t, q, Options{Heartbeat: 20 * time.Millisecond})
	resp := get(t, srv.URL+PathWatch+"?after_seq=5&host_id=web-1", map[string]string{"Authorization": "Bearer tok", "Last-Event-ID": "41"})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("watch: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := readSSE(t, resp.Body, func([]string) bool { return false })
	if r := <-gotReq; r.GetAfterSeq() != 41 || r.GetHostId() != "web-1" {
		t.Errorf("WatchDrift request %v, want after_seq 41 (Last-Event-ID) and host web-1", r)
	}
	if a := <-gotAuth; len(a) != 1 || a[0] != "Bearer tok" {
		t.Errorf("authorization %q", a)
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{
		"id: 42\ndata: {\"id\":\"\",\"type\":\"drift.opened\",\"seq\":42,",
		": heartbeat\n",
		"event: end\ndata: {\"code\":8,",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("stream lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(text, `"host":"web-1","kind"`) {
		t.Errorf("event data is not the webhook JSON:\n%s", text)
	}
}

// A watch the collector refuses before it starts (here: no token) is an
// HTTP error with the JSON body, not a 200 stream; so is a bad cursor.
func TestWatchRefused(t *testing.T) {
	q := &fakeQuery{watch: func(_ *plumbv1.WatchDriftRequest, s grpc.ServerStreamingServer[plumbv1.WatchDriftResponse]) error {
		return status.Error(codes.Unauthenticated, "this call needs an API token")
	}}
	srv := serve(t, q, Options{})
	for _, c := range []struct {
		url     string
		hdr     map[string]string
		code    int
		grpc    codes.Code
		message string
	}{
		{PathWatch, nil, 401, codes.Unauthenticated, "needs an API token"},
		{PathWatch + "?after_seq=x", nil, 400, codes.InvalidArgument, "after_seq"},
		{PathWatch, map[string]string{"Last-Event-ID": "-1"}, 400, codes.InvalidArgument, "Last-Event-ID"},
	} {
		resp := get(t, srv.URL+c.url, c.hdr)
		var body struct {
			Code    codes.Code `json:"code"`
			Message string     `json:"message"`
		}
		err := json.NewDecoder(resp.Body).Decode(&body)
		if err != nil || resp.StatusCode != c.code || body.Code != c.grpc || !strings.Contains(body.Message, c.message) {
			t.Errorf("%s %v: %d %+v (%v), want %d code %d %q", c.url, c.hdr, resp.StatusCode, body, err, c.code, c.grpc, c.message)
		}
	}
}
