package ingest

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// Ready follows the writer: not ready before it runs, ready while it
// runs, not ready while one commit waits on the store for StuckCommit
// (here a write transaction held open by the test), ready again once it
// commits, and not ready after it stops.
func TestReadyFollowsTheWriter(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "plumb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := New(st, &drift.Engine{}, Options{})
	if err := srv.Ready(time.Now()); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("before Run: Ready = %v, want not running", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan struct{})
	go func() { srv.Run(ctx); close(stopped) }()
	await(t, "ready once running", func() bool { return srv.Ready(time.Now()) == nil })

	// Hold the store's one write transaction, so the next commit waits.
	holding, release := make(chan struct{}), make(chan struct{})
	go st.Update(context.Background(), func(store.Tx) error { close(holding); <-release; return nil })
	<-holding
	committed := make(chan result, 1)
	go func() {
		committed <- srv.committer.submit(ctx, &job{host: "h1", kind: jobHello,
			hello: &plumbv1.Hello{HostId: "h1", BucketCount: fact.BucketCount}})
	}()
	await(t, "a commit in progress", func() bool { return srv.committer.busySince.Load() != 0 })
	if err := srv.Ready(time.Now()); err != nil {
		t.Fatalf("a commit just started: Ready = %v, want nil", err)
	}
	if err := srv.Ready(time.Now().Add(StuckCommit)); err == nil || !strings.Contains(err.Error(), "commit has been running") {
		t.Fatalf("a commit waiting for %v: Ready = %v, want stuck", StuckCommit, err)
	}
	close(release)
	if r := <-committed; r.err != nil {
		t.Fatalf("hello: %v", r.err)
	}
	await(t, "ready after the commit", func() bool { return srv.Ready(time.Now().Add(StuckCommit)) == nil })

	cancel()
	<-stopped
	if err := srv.Ready(time.Now()); err == nil {
		t.Fatal("after Run returned: Ready = nil, want not running")
	}
}

func await(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
