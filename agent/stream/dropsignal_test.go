package stream

import (
	"fmt"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/state"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// A spool dropped while the collector was unreachable is repaired by the
// next handshake alone: the drop's signal must not end that session and
// force a second one (which also throws away the snapshots in flight).
func TestSpoolDroppedOfflineResyncsInOneSession(t *testing.T) {
	f := newFake()
	addr, stop := serve(t, f)
	defer stop()
	db, err := state.Open(t.TempDir(), state.Options{SpoolLimit: 2000})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The collector holds a baseline (it acknowledged a checkpoint), so
	// the spool may be dropped whole.
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ack(db.Status().Seq); err != nil {
		t.Fatal(err)
	}
	var ops []source.Op
	for i := range 100 {
		ops = append(ops, source.Op{Upsert: fileFact(fmt.Sprintf("/f/%d", i), "x")})
	}
	apply(t, db, ops...) // over the limit even compacted: dropped
	if st := db.Status(); st.SpoolLen != 0 {
		t.Fatalf("spool holds %d deltas; the test needs it dropped", st.SpoolLen)
	}
	runClient(t, addr, db)
	waitAgree(t, f, db)
	// A change after the resync is a barrier: it needs a live session.
	k := fact.Key{Kind: plumbv1.FactKind_FACT_KIND_FILE, ID: "/f/1"}
	apply(t, db, source.Op{Delete: &k})
	waitAgree(t, f, db)
	f.mu.Lock()
	sessions := f.sessions
	f.mu.Unlock()
	if sessions != 1 {
		t.Fatalf("%d sessions to repair a spool dropped offline, want 1", sessions)
	}
}
