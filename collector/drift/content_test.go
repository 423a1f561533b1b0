package drift

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// A file change's content diff lands on the drift item's current fact
// and in its event, never in the host's stored facts; a later change
// without one (a touch) leaves the item's as it was.
func TestContentOnTheItemNotTheFacts(t *testing.T) {
	r := newRig(t)
	r.apply(upsert(file("/etc/app.conf", "a", 1)), checkpoint())

	changed := file("/etc/app.conf", "b", 2)
	diff := &plumbv1.ContentChange{State: plumbv1.ContentState_CONTENT_STATE_DIFF, UnifiedDiff: "--- a/etc/app.conf\n+++ b/etc/app.conf\n@@ -1 +1 @@\n-a\n+b\n"}
	changed.GetFile().Content = diff
	evs := r.apply(upsert(changed))
	if len(evs) != 1 || !proto.Equal(evs[0].GetItem().GetCurrent().GetFile().GetContent(), diff) {
		t.Fatalf("event %v, want one opening with the diff", evs)
	}
	if got := r.item(changed).GetCurrent().GetFile().GetContent(); !proto.Equal(got, diff) {
		t.Fatalf("item's content %v, want %v", got, diff)
	}
	err := r.st.View(context.Background(), func(tx store.ReadTx) error {
		f, err := tx.Fact(hostID, fact.KeyOf(changed))
		if err != nil {
			return err
		}
		if f.GetFile().GetContent() != nil {
			t.Errorf("stored fact carries content %v", f.GetFile().GetContent())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if changed.GetFile().GetContent() == nil {
		t.Fatal("the delta's fact lost its content: stored a copy, not the caller's fact")
	}
	// A touch: same digest, no event, the item keeps its diff.
	if evs := r.apply(upsert(file("/etc/app.conf", "b", 3))); len(evs) != 0 {
		t.Fatalf("touch gave events %v", types(evs))
	}
	if got := r.item(changed).GetCurrent().GetFile().GetContent(); !proto.Equal(got, diff) {
		t.Fatalf("item's content after a touch %v, want %v", got, diff)
	}
}
