package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
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

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWatchPrintsEventsAsTheyArrive runs `drift --watch` in process
// against the fake: each pushed event shows up as its own line while the
// watch is still running, and cancelling (what SIGINT does) ends it with
// status 0.
func TestWatchPrintsEventsAsTheyArrive(t *testing.T) {
	f, addr, _ := startFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--insecure", "--collector", addr, "drift", "--watch"}, &stdout, &stderr)
	}()
	if err := f.waitWatchers(1, 10*time.Second); err != nil {
		t.Fatalf("%v; stderr: %s", err, stderr.String())
	}

	lines := func() []string {
		return strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	}
	f.push(plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED, "web-1", plumbv1.FactKind_FACT_KIND_FILE,
		[]byte("/etc/shadow"), plumbv1.DriftChange_DRIFT_CHANGE_MODIFIED)
	waitFor(t, "first event line", func() bool { return strings.Contains(stdout.String(), "/etc/shadow") })
	if got := lines(); len(got) != 1 {
		t.Fatalf("after one event, stdout has %d lines: %q", len(got), got)
	}

	f.push(plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED, "db-1", plumbv1.FactKind_FACT_KIND_FILE,
		[]byte("/etc/caf\xe9.conf"), plumbv1.DriftChange_DRIFT_CHANGE_ADDED)
	waitFor(t, "second event line", func() bool { return strings.Count(stdout.String(), "\n") == 2 })

	got := lines()
	want := []string{
		"2026-03-01T10:00:01Z  opened    warning   web-1  file      /etc/shadow  modified",
		`2026-03-01T10:00:02Z  resolved  critical  db-1  file      /etc/caf\xe9.conf  added`,
	}
	if len(got) != len(want) {
		t.Fatalf("stdout lines = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %q, want %q", i, got[i], want[i])
		}
	}

	select {
	case code := <-done:
		t.Fatalf("watch ended early with status %d; stderr: %s", code, stderr.String())
	default:
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("status after cancel = %d, want 0; stderr: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not end after cancel")
	}
	if strings.Contains(stderr.String(), "plumbctl:") {
		t.Errorf("cancel printed an error: %s", stderr.String())
	}
}

// TestWatchDroppedStreamFails checks that losing the collector mid-watch
// is a failure (status 1), not a quiet end.
func TestWatchDroppedStreamFails(t *testing.T) {
	f, addr, stop := startFake(t)
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"--insecure", "--collector", addr, "drift", "--watch"}, &stdout, &stderr)
	}()
	if err := f.waitWatchers(1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	stop()
	select {
	case code := <-done:
		if code != exitFailure {
			t.Fatalf("status = %d, want %d; stderr: %s", code, exitFailure, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not end when the server stopped")
	}
	// The fake counts a watcher once its handler runs, which can be before
	// the client's call has returned: then gRPC retries the call, finds the
	// collector gone, and the call fails rather than the stream.
	if e := stderr.String(); !strings.Contains(e, "plumbctl: watch drift: stream dropped: unavailable: ") &&
		!strings.Contains(e, "plumbctl: watch drift: unavailable: ") {
		t.Errorf("stderr = %q, want a stream dropped (or call failed) error", e)
	}
}

// TestWatchResumesWhenDroppedAsSlow: the collector drops a slow watch
// naming the seq to resume after; plumbctl resumes there and prints every
// event once.
func TestWatchResumesWhenDroppedAsSlow(t *testing.T) {
	f, addr, _ := startFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--insecure", "--collector", addr, "drift", "--watch"}, &stdout, &stderr)
	}()
	if err := f.waitWatchers(1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	push := func(key string) {
		f.push(plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED, "web-1", plumbv1.FactKind_FACT_KIND_FILE,
			[]byte(key), plumbv1.DriftChange_DRIFT_CHANGE_MODIFIED)
	}
	push("/a")
	push("/b")
	waitFor(t, "two events", func() bool { return strings.Count(stdout.String(), "\n") == 2 })
	f.dropWatches()
	push("/c") // while no watch is open
	waitFor(t, "the resumed watch", func() bool { return f.watcherCount() == 1 })
	push("/d")
	waitFor(t, "four events", func() bool { return strings.Count(stdout.String(), "\n") >= 4 })
	time.Sleep(50 * time.Millisecond)
	out := stdout.String()
	for _, k := range []string{"/a", "/b", "/c", "/d"} {
		if n := strings.Count(out, k+" "); n != 1 {
			t.Errorf("%s printed %d times:\n%s", k, n, out)
		}
	}
	f.mu.Lock()
	resumes := fmt.Sprint(f.resumes)
	f.mu.Unlock()
	if resumes != "[0 2]" {
		t.Errorf("watches opened with after_seq %s, want [0 2]", resumes)
	}
	if !strings.Contains(stderr.String(), "resuming after event 2") {
		t.Errorf("stderr = %q", stderr.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("status %d; stderr: %s", code, stderr.String())
	}
}
