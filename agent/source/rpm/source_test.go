package rpm

import (
	"strings"
	"testing"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/source/sourcetest"
)

// start runs an rpm source on root until the test ends, and waits for its
// initial snapshot.
func start(t *testing.T, root string, raw map[string]any, tune func(*Source), sink *sourcetest.Sink) *sourcetest.Sink {
	t.Helper()
	src, err := New(sourcetest.Logger(t), source.Options{HostRoot: root, Raw: raw})
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(src.(*Source))
	}
	return sourcetest.Run(t, src, sink)
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
		_, err := New(sourcetest.Logger(t), source.Options{Raw: tt.raw})
		if tt.wantErr == "" && err != nil {
			t.Errorf("New(%v) = %v, want no error", tt.raw, err)
		}
		if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("New(%v) = %v, want error containing %q", tt.raw, err, tt.wantErr)
		}
	}
}
