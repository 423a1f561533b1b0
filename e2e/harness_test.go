// Package e2e runs Plumb's real binaries as separate processes on
// loopback: a collector with its bbolt file, one or more agents watching
// temporary trees with real inotify, plumbctl, and a real HTTP webhook
// receiver, and checks what an operator and on-call would see.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var bin struct{ agent, collector, ctl string }

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "plumb-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "go env GOMOD:", err)
		return 1
	}
	modDir := filepath.Dir(strings.TrimSpace(string(root)))
	for _, b := range []struct {
		out *string
		pkg string
	}{
		{&bin.agent, "./agent/cmd/plumb-agent"},
		{&bin.collector, "./collector/cmd/plumb-collector"},
		{&bin.ctl, "./collector/cmd/plumbctl"},
	} {
		*b.out = filepath.Join(dir, filepath.Base(b.pkg))
		cmd := exec.Command("go", "build", "-o", *b.out, b.pkg)
		cmd.Dir = modDir
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", b.pkg, err)
			return 1
		}
	}
	return m.Run()
}

// proc is a running binary whose output is kept for failure reports.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, name, path string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(path, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() || os.Getenv("PLUMB_E2E_LOGS") != "" {
			p.logOutput(t)
		}
	})
	return p
}

// maxLoggedOutput is the most of a process's output put in the test log;
// past it, the output goes to a file that outlives the test, and the log
// gets its path and its tail.
const maxLoggedOutput = 256 << 10

func (p *proc) logOutput(t *testing.T) {
	t.Helper()
	out := p.out.String()
	if len(out) <= maxLoggedOutput {
		t.Logf("--- %s output ---\n%s", p.name, out)
		return
	}
	name := strings.NewReplacer("/", "_", " ", "_", "#", "_").Replace(t.Name() + "-" + p.name)
	f, err := os.CreateTemp(os.Getenv("PLUMB_E2E_LOGDIR"), "plumb-e2e-"+name+"-*.log")
	if err == nil {
		_, err = f.WriteString(out)
		if err2 := f.Close(); err == nil {
			err = err2
		}
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	tail := strings.Join(lines[max(0, len(lines)-40):], "\n")
	if err != nil {
		t.Logf("--- %s output: %d bytes, could not be saved (%v); its last 40 lines ---\n%s", p.name, len(out), err, tail)
		return
	}
	t.Logf("--- %s output: %d bytes in %s; its last 40 lines ---\n%s", p.name, len(out), f.Name(), tail)
}

// stop sends SIGTERM and waits, then SIGKILL.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// freeAddr returns a loopback address free now, on a port below the
// kernel's ephemeral range, never the same twice in this run. An
// ephemeral port (a listener on :0, an outgoing connection's source) goes
// to whoever asks next once it is free: a collector a test stops and
// restarts on its address then found it taken by another test's server
// (TestDiskOracle, under load). Nothing takes a port below the range
// unless asked for it by number.
func freeAddr(t *testing.T) string {
	t.Helper()
	ports.Lock()
	defer ports.Unlock()
	if ports.handed == nil {
		ports.handed = map[int]bool{}
		ports.below = ephemeralLow(t)
	}
	const lowest = 10000
	for range 1000 {
		p := lowest + rand.IntN(ports.below-lowest)
		if ports.handed[p] {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken by now
		}
		ln.Close()
		ports.handed[p] = true
		return addr
	}
	t.Fatalf("no free port in %d–%d", lowest, ports.below)
	return ""
}

var ports struct {
	sync.Mutex
	handed map[int]bool
	below  int // the first ephemeral port
}

// ephemeralLow reads the first port of the kernel's ephemeral range.
func ephemeralLow(t *testing.T) int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Fatal(err)
	}
	var low, high int
	if _, err := fmt.Sscan(string(b), &low, &high); err != nil || low <= 10000+1000 {
		t.Fatalf("ephemeral port range %q: want its first port above 11000", b)
	}
	return low
}

type collector struct {
	*proc
	addr string
	data string
}

func startCollector(t *testing.T, data string, hookURL string, extra ...string) *collector {
	t.Helper()
	return startCollectorAt(t, freeAddr(t), data, hookURL, extra...)
}

// boltTests are the tests (by name) whose collectors stay on bbolt under
// PLUMB_E2E_STORE=postgres: they are about the bbolt file itself. A mark,
// not t.Setenv, which a parallel test may not call.
var boltTests sync.Map

// keepBolt keeps t's collectors (and its subtests') on bbolt.
func keepBolt(t *testing.T) { boltTests.Store(t.Name(), true) }

// boltKept reports whether t or a test it runs under called keepBolt.
func boltKept(t *testing.T) bool {
	name := t.Name()
	for {
		if _, ok := boltTests.Load(name); ok {
			return true
		}
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			return false
		}
		name = name[:i]
	}
}

// startCollectorAt starts a collector listening on addr: a restart on the
// address its agents already use.
func startCollectorAt(t *testing.T, addr, data string, hookURL string, extra ...string) *collector {
	t.Helper()
	args := []string{"--listen", addr, "--data", data, "--log-level", "debug"}
	if hookURL != "" {
		// Short windows: most tests wait for one event at a time. The
		// grouping tests set their own.
		args = append(args, "--webhook-url", hookURL)
		if !slices.Contains(extra, "--webhook-group") {
			args = append(args, "--webhook-group", "group_wait=300ms", "--webhook-group", "group_interval=500ms")
		}
	}
	if os.Getenv("PLUMB_E2E_STORE") == "postgres" && !slices.Contains(extra, "--store-dsn") && !boltKept(t) {
		// The whole suite on PostgreSQL: one database per data directory.
		args = append(args, "--store-dsn", postgresFor(t, data))
	}
	useCollector(addr, data, slices.Contains(extra, "--insecure"), addr)
	c := &collector{proc: start(t, "collector", bin.collector, append(args, extra...)...), addr: addr, data: data}
	waitFor(t, 10*time.Second, "collector to serve", func() bool {
		conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	// Agents of this collector may start while it is down: make their
	// join token now.
	agentAuthArgs(t, addr)
	return c
}

func startAgent(t *testing.T, collectorAddr, state, hostID string, watch ...string) *proc {
	t.Helper()
	return startAgentArgs(t, collectorAddr, state, hostID, nil, watch...)
}

// startAgentArgs is startAgent with extra flags.
func startAgentArgs(t *testing.T, collectorAddr, state, hostID string, extra []string, watch ...string) *proc {
	t.Helper()
	args := append(agentAuthArgs(t, collectorAddr), "--collector", collectorAddr, "--state", state, "--host-id", hostID,
		"--sources", "file", "--log-level", "debug")
	for _, w := range watch {
		args = append(args, "--watch", w)
	}
	return start(t, "agent "+hostID, bin.agent, append(args, extra...)...)
}

// ctl runs plumbctl against addr and returns its stdout; it fails the test
// on a non-zero exit.
func ctl(t *testing.T, addr string, args ...string) string {
	t.Helper()
	out, errOut, err := ctlResult(addr, args...)
	if err != nil {
		t.Fatalf("plumbctl %v: %v\nstdout: %s\nstderr: %s", args, err, out, errOut)
	}
	return out
}

func ctlResult(addr string, args ...string) (string, string, error) {
	cmd := exec.Command(bin.ctl, append(append(ctlAuthArgs(addr), "--collector", addr), args...)...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	return so.String(), se.String(), err
}

func ctlJSON(t *testing.T, addr string, v any, args ...string) {
	t.Helper()
	out := ctl(t, addr, append([]string{"-o", "json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("plumbctl %v: bad JSON: %v\n%s", args, err, out)
	}
}

type hostJSON struct {
	HostID      string `json:"host_id"`
	HasBaseline bool   `json:"has_baseline"`
	FactCount   uint64 `json:"fact_count"`
	OpenDrift   uint64 `json:"open_drift"`
	Connected   bool   `json:"connected"`
}

// waitBaseline waits until the collector holds a baseline for host.
func waitBaseline(t *testing.T, addr, host string) hostJSON {
	t.Helper()
	var got hostJSON
	waitFor(t, 30*time.Second, "baseline for "+host, func() bool {
		var hosts []hostJSON
		out, _, err := ctlResult(addr, "-o", "json", "hosts")
		if err != nil || json.Unmarshal([]byte(out), &hosts) != nil {
			return false
		}
		for _, h := range hosts {
			if h.HostID == host && h.HasBaseline {
				got = h
				return true
			}
		}
		return false
	})
	return got
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// event is a webhook body as received.
type event struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	Seq        uint64         `json:"seq"`
	Host       string         `json:"host"`
	Kind       string         `json:"kind"`
	Key        string         `json:"key"`
	Change     string         `json:"change"`
	Severity   string         `json:"severity"`
	ItemID     string         `json:"item_id"`
	Baseline   map[string]any `json:"baseline"`
	Current    map[string]any `json:"current"`
	ObservedAt string         `json:"observed_at"`
	DetectedAt string         `json:"detected_at"`
	// Silence is a silence.ended event's summary, read by summaryOf.
	Silence json.RawMessage `json:"silence_summary"`

	received time.Time
	headers  http.Header
}

// notification is one request a hook received: a group of events.
type notification struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Title    string          `json:"title"`
	Severity string          `json:"severity"`
	Hosts    []hostCount     `json:"hosts"`
	Packages []packageChange `json:"packages"`
	// Unexplained items (bounded) and their count.
	Unexplained      []groupItem `json:"unexplained"`
	UnexplainedTotal int         `json:"unexplained_total"`
	Events           []event     `json:"events"`

	webhookID string
	received  time.Time
}

type hostCount struct {
	Host  string `json:"Host"`
	Items int    `json:"Items"`
}

type packageChange struct {
	Host       string   `json:"host"`
	Package    string   `json:"package"`
	OldVersion string   `json:"old_version"`
	NewVersion string   `json:"new_version"`
	Checked    bool     `json:"checked"`
	Files      int      `json:"files"`
	Explained  int      `json:"explained"`
	Mismatched []string `json:"mismatched"`
	AllMatch   bool     `json:"all_match"`
}

type groupItem struct {
	Host    string `json:"host"`
	Kind    string `json:"kind"`
	Key     string `json:"key"`
	Change  string `json:"change"`
	Status  string `json:"status"`
	Flapped bool   `json:"flapped"`
}

// hook is a real HTTP webhook receiver. Each grouped notification's
// events are also listed one by one, in order, as the events the tests
// replay.
type hook struct {
	srv *httptest.Server
	mu  sync.Mutex
	evs []event        // guarded by mu
	ns  []notification // guarded by mu
	// fail, when > 0, answers that many requests with 503 first.
	fail int
	new  chan struct{}
}

func newHook(t *testing.T) *hook {
	h := &hook{new: make(chan struct{}, 1)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		now := time.Now()
		h.mu.Lock()
		if h.fail > 0 {
			h.fail--
			h.mu.Unlock()
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var n notification
		if err := json.Unmarshal(body, &n); err != nil {
			h.mu.Unlock()
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if n.Type != "drift.group" {
			// One event per request: the notifier does not group.
			var ev event
			if err := json.Unmarshal(body, &ev); err != nil {
				h.mu.Unlock()
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			n = notification{ID: ev.ID, Type: ev.Type, Events: []event{ev}}
		}
		n.webhookID, n.received = r.Header.Get("webhook-id"), now
		for _, ev := range n.Events {
			ev.received, ev.headers = now, r.Header.Clone()
			h.evs = append(h.evs, ev)
		}
		h.ns = append(h.ns, n)
		h.mu.Unlock()
		select {
		case h.new <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// setFailing makes the receiver answer 503 to every request (true) or to
// none (false).
func (h *hook) setFailing(down bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fail = 0
	if down {
		h.fail = 1 << 30
	}
}

// notifications returns the requests received, in order.
func (h *hook) notifications() []notification {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]notification(nil), h.ns...)
}

func (h *hook) events() []event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]event(nil), h.evs...)
}

// await waits for an event matching pred among those received from index
// `from` on, and returns it with its index.
func (h *hook) await(t *testing.T, d time.Duration, what string, pred func(event) bool) event {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, ev := range h.events() {
			if pred(ev) {
				return ev
			}
		}
		if time.Now().After(deadline) {
			var seen []string
			for _, ev := range h.events() {
				seen = append(seen, ev.Type+" "+ev.Host+" "+ev.Change+" "+ev.Key)
			}
			t.Fatalf("no webhook for %s within %v; received:\n%s", what, d, strings.Join(seen, "\n"))
		}
		select {
		case <-h.new:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func is(typ, host, change, key string) func(event) bool {
	return func(ev event) bool {
		return ev.Type == typ && ev.Host == host && ev.Key == key && (change == "" || ev.Change == change)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

var _ = context.Background
