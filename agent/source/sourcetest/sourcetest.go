// Package sourcetest helps test fact sources: a Sink that records what a
// source reports and keeps state the way the agent does, and Run, which
// runs a source against it for the length of a test.
package sourcetest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/agent/source"
)

// Logger returns a logger for the source under test: debug output on
// stderr with go test -v, silent otherwise.
func Logger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Run runs src with sink (a new Sink when nil) until the test ends, and
// waits for its initial snapshot. At the end of the test it cancels the
// run and checks that Run returns nil promptly.
func Run(t testing.TB, src source.Source, sink *Sink) *Sink {
	t.Helper()
	if sink == nil {
		sink = NewSink()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	WaitFor(t, 10*time.Second, "initial snapshot", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		default:
		}
		return sink.IsReady()
	})
	return sink
}

// WaitFor polls cond until it holds, failing the test when timeout passes
// first, and returns how long it took.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}
