package file

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/pkg/fact"
	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// call is one recorded sink call.
type call struct {
	op    string // upsert, delete, begin, end, ready, coverage
	key   string // fact key or scope prefix
	fact  *plumbv1.Fact
	scope source.Scope
	cond  source.Condition
}

// fakeSink records calls and keeps state the way the agent's state does:
// facts by key, and Begin/End snapshots that delete what was not upserted.
// It fails the test if two calls overlap (the Sink is not safe for
// concurrent use) or a snapshot is nested.
type fakeSink struct {
	t      testing.TB
	inCall atomic.Int32

	mu      sync.Mutex
	facts   map[fact.Key]*plumbv1.Fact
	open    *source.Scope
	touched map[fact.Key]bool
	calls   []call
	ready   int
	onReady func()
}

func newFakeSink(t testing.TB) *fakeSink {
	return &fakeSink{t: t, facts: map[fact.Key]*plumbv1.Fact{}}
}

func (s *fakeSink) enter() func() {
	if s.inCall.Add(1) != 1 {
		s.t.Errorf("sink called concurrently")
	}
	s.mu.Lock()
	return func() {
		s.mu.Unlock()
		s.inCall.Add(-1)
	}
}

func (s *fakeSink) Upsert(f *plumbv1.Fact) {
	defer s.enter()()
	if !bytes.Equal(f.GetDigest(), fact.Digest(f)) {
		s.t.Errorf("upsert %s: digest not sealed", fact.Display(f.GetKey()))
	}
	k := fact.KeyOf(f)
	s.facts[k] = f
	if s.touched != nil {
		s.touched[k] = true
	}
	s.calls = append(s.calls, call{op: "upsert", key: k.ID, fact: f})
}

func (s *fakeSink) Keep(k fact.Key) {
	defer s.enter()()
	if _, ok := s.facts[k]; !ok {
		s.t.Errorf("keep %s: no such fact", fact.Display([]byte(k.ID)))
	}
	if s.touched != nil {
		s.touched[k] = true
	}
	s.calls = append(s.calls, call{op: "keep", key: k.ID})
}

func (s *fakeSink) Hold(sc source.Scope) {
	defer s.enter()()
	for k, f := range s.facts {
		if s.touched != nil && sc.Contains(k, f) {
			s.touched[k] = true
		}
	}
	s.calls = append(s.calls, call{op: "hold", key: sc.Prefix, scope: sc})
}

// Facts implements source.FactReader.
func (s *fakeSink) Facts(sc source.Scope, fn func(*plumbv1.Fact) error) error {
	s.mu.Lock()
	var in []*plumbv1.Fact
	for k, f := range s.facts {
		if sc.Contains(k, f) {
			in = append(in, f)
		}
	}
	s.mu.Unlock()
	for _, f := range in {
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func (s *fakeSink) Delete(k fact.Key) {
	defer s.enter()()
	delete(s.facts, k)
	s.calls = append(s.calls, call{op: "delete", key: k.ID})
}

func (s *fakeSink) Begin(sc source.Scope) {
	defer s.enter()()
	if s.open != nil {
		s.t.Errorf("Begin(%q) inside open snapshot %q", sc.Prefix, s.open.Prefix)
	}
	s.open = &sc
	s.touched = map[fact.Key]bool{}
	s.calls = append(s.calls, call{op: "begin", key: sc.Prefix, scope: sc})
}

func (s *fakeSink) End(sc source.Scope) {
	defer s.enter()()
	if s.open == nil || *s.open != sc {
		s.t.Errorf("End(%q) does not match Begin", sc.Prefix)
	}
	for k, f := range s.facts {
		if sc.Contains(k, f) && !s.touched[k] {
			delete(s.facts, k)
		}
	}
	s.open, s.touched = nil, nil
	s.calls = append(s.calls, call{op: "end", key: sc.Prefix, scope: sc})
}

func (s *fakeSink) Ready() {
	defer s.enter()()
	s.ready++
	s.calls = append(s.calls, call{op: "ready"})
	if s.onReady != nil {
		s.onReady()
	}
}

func (s *fakeSink) Coverage(c source.Condition) {
	defer s.enter()()
	s.calls = append(s.calls, call{op: "coverage", key: c.Detail, cond: c})
}

var _ source.ScopeChecker = (*fakeSink)(nil)

// Holds implements source.ScopeChecker, as the runner's sink does: the
// source's first scan of an empty sink then takes the listing's way
// (regular files not lstat'ed), the one a real agent's first scan takes.
func (s *fakeSink) Holds(sc source.Scope) bool {
	defer s.enter()()
	for k := range s.facts {
		if k.Kind == sc.Kind && strings.HasPrefix(k.ID, sc.Prefix) {
			return true
		}
	}
	return false
}

func (s *fakeSink) Lookup(k fact.Key) (*plumbv1.Fact, bool) {
	defer s.enter()()
	f, ok := s.facts[k]
	return f, ok
}

// get returns the current fact for path p.
func (s *fakeSink) get(p string) (*plumbv1.Fact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.facts[fact.Key{Kind: fileKind, ID: p}]
	return f, ok
}

// keys returns the current fact keys under dir (inclusive), sorted.
func (s *fakeSink) keysUnder(dir string) map[string]*plumbv1.Fact {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*plumbv1.Fact{}
	for k, f := range s.facts {
		if withinOrSame(k.ID, dir) {
			out[k.ID] = f
		}
	}
	return out
}

// log returns a copy of the calls so far.
func (s *fakeSink) log() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]call(nil), s.calls...)
}

// mark returns the number of calls so far, to look at later calls only.
func (s *fakeSink) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// since returns the calls after mark m.
func (s *fakeSink) since(m int) []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]call(nil), s.calls[m:]...)
}

func (s *fakeSink) hasCoverage(state plumbv1.CoverageState, reason, detail string) bool {
	for _, c := range s.log() {
		if c.op == "coverage" && c.cond.State == state && c.cond.Reason == reason && c.cond.Detail == detail {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// hasContent reports whether p's fact holds the sha256 of want.
func hasContent(s *fakeSink, p string, want []byte) bool {
	f, ok := s.get(p)
	if !ok {
		return false
	}
	sum := sha256.Sum256(want)
	return bytes.Equal(f.GetFile().GetSha256(), sum[:])
}

func isRegular(f *plumbv1.Fact) bool {
	return f.GetFile().GetType() == plumbv1.FileType_FILE_TYPE_REGULAR
}

// running is a Source running in the background.
type running struct {
	src  *Source
	sink *fakeSink
	stop func()
}

// startSource runs a file source with the given options until the test
// ends, and waits for its initial snapshot.
func startSource(t *testing.T, raw map[string]any, h hooks) *running {
	t.Helper()
	src, err := newSource(testLogger(t), source.Options{Raw: raw})
	if err != nil {
		t.Fatal(err)
	}
	src.hooks = h
	sink := newFakeSink(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	waitFor(t, "initial snapshot (Ready)", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return sink.ready > 0
	})
	return &running{src: src, sink: sink, stop: stop}
}

// testLogger logs to the test output when -v is given.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdirAll(t testing.TB, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func describe(calls []call) string {
	var b strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&b, "%s %s", c.op, fact.Display([]byte(c.key)))
		if c.op == "coverage" {
			fmt.Fprintf(&b, " %v %s", c.cond.State, c.cond.Reason)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
