package rpm

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/agent/source"
)

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// start runs an rpm source on root until the test ends, and waits for its
// initial snapshot.
func start(t *testing.T, root string, raw map[string]any, tune func(*Source), sink *recSink) *recSink {
	t.Helper()
	src, err := New(testLogger(t), source.Options{HostRoot: root, Raw: raw})
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(src.(*Source))
	}
	if sink == nil {
		sink = newRecSink()
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
	waitFor(t, 10*time.Second, "initial snapshot", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		default:
		}
		return sink.isReady()
	})
	return sink
}

func TestOptions(t *testing.T) {
	for _, tt := range []struct {
		raw     map[string]any
		wantErr string
	}{
		{raw: nil},
		{raw: map[string]any{"dbpath": "/usr/lib/sysimage/rpm", "conffile_interval": "1m"}},
		{raw: map[string]any{"db_path": "/x"}, wantErr: "db_path"},
		{raw: map[string]any{"dbpath": "var/lib/rpm"}, wantErr: "absolute"},
		{raw: map[string]any{"conffile_interval": "-1s"}, wantErr: "positive"},
	} {
		_, err := New(testLogger(t), source.Options{Raw: tt.raw})
		if tt.wantErr == "" && err != nil {
			t.Errorf("New(%v) = %v, want no error", tt.raw, err)
		}
		if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("New(%v) = %v, want error containing %q", tt.raw, err, tt.wantErr)
		}
	}
}
