package drift

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

func TestBaselineAdoptedAtFirstCheckpointOnly(t *testing.T) {
	r := newRig(t)
	var logs bytes.Buffer
	r.eng.Logger = slog.New(slog.NewTextHandler(&logs, nil))

	a1, b1 := sysctl("a", "1"), sysctl("b", "1")
	if evs := r.apply(upsert(a1), upsert(b1), upsert(sysctl("b", "2"))); len(evs) != 0 {
		t.Errorf("events before any baseline: %v", types(evs))
	}
	if h := r.host(); h.HasBaseline || h.OpenDrift != 0 {
		t.Errorf("host before checkpoint: baseline %v, open %d", h.HasBaseline, h.OpenDrift)
	}
	if evs := r.apply(checkpoint()); len(evs) != 0 {
		t.Errorf("events at adoption: %v", types(evs))
	}
	if !r.host().HasBaseline {
		t.Fatal("no baseline after the first checkpoint")
	}
	if !strings.Contains(logs.String(), `msg="baseline adopted"`) || !strings.Contains(logs.String(), "facts=2") {
		t.Errorf("log lacks the adoption with its fact count:\n%s", logs.String())
	}
	if got := r.baseline(b1); got.GetValue().GetValue() != "2" {
		t.Errorf("baseline of b = %v, want the value current at the checkpoint", got)
	}

	// Drift now; a later checkpoint must not adopt it.
	r.apply(upsert(sysctl("a", "9")))
	r.apply(checkpoint())
	if got := r.baseline(a1); got.GetValue().GetValue() != "1" {
		t.Errorf("baseline of a = %v after a second checkpoint, want 1", got)
	}
	if h := r.host(); h.OpenDrift != 1 {
		t.Errorf("open drift = %d, want 1", h.OpenDrift)
	}
	if n := strings.Count(logs.String(), "baseline adopted"); n != 1 {
		t.Errorf("baseline adopted %d times", n)
	}
}

func TestModifyUpdateRevertRedrift(t *testing.T) {
	r := newRig(t)
	a := sysctl("a", "1")
	r.apply(upsert(a), checkpoint())

	r.now = t0.Add(time.Minute)
	evs := r.apply(upsert(sysctl("a", "2")))
	if diff := cmp.Diff([]string{"OPENED:MODIFIED:a"}, types(evs)); diff != "" {
		t.Fatalf("modify (-want +got):\n%s", diff)
	}
	first := r.item(a)
	if first.GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_OPEN || first.GetId() == "" ||
		first.GetBaseline().GetValue().GetValue() != "1" || first.GetCurrent().GetValue().GetValue() != "2" ||
		first.GetDetectedUnixNano() != r.now.UnixNano() || first.GetObservedUnixNano() != 99 || first.GetHostId() != hostID {
		t.Errorf("opened item = %v", first)
	}
	if evs[0].GetAtUnixNano() != r.now.UnixNano() || evs[0].GetSeq() == 0 || !proto.Equal(evs[0].GetItem(), first) {
		t.Errorf("opened event = %v", evs[0])
	}
	if r.host().OpenDrift != 1 {
		t.Errorf("open drift = %d, want 1", r.host().OpenDrift)
	}

	r.now = t0.Add(2 * time.Minute)
	evs = r.apply(upsert(sysctl("a", "3")))
	if diff := cmp.Diff([]string{"UPDATED:MODIFIED:a"}, types(evs)); diff != "" {
		t.Fatalf("modify again (-want +got):\n%s", diff)
	}
	if it := r.item(a); it.GetId() != first.GetId() || it.GetCurrent().GetValue().GetValue() != "3" ||
		it.GetDetectedUnixNano() != first.GetDetectedUnixNano() || it.GetUpdatedUnixNano() != r.now.UnixNano() {
		t.Errorf("updated item = %v", it)
	}

	evs = r.apply(upsert(sysctl("a", "1")))
	if diff := cmp.Diff([]string{"RESOLVED:MODIFIED:a"}, types(evs)); diff != "" {
		t.Fatalf("revert (-want +got):\n%s", diff)
	}
	if it := r.item(a); it.GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_RESOLVED || it.GetId() != first.GetId() {
		t.Errorf("resolved item = %v", it)
	}
	if r.host().OpenDrift != 0 {
		t.Errorf("open drift = %d after resolve", r.host().OpenDrift)
	}

	evs = r.apply(upsert(sysctl("a", "4")))
	if diff := cmp.Diff([]string{"OPENED:MODIFIED:a"}, types(evs)); diff != "" {
		t.Fatalf("re-drift (-want +got):\n%s", diff)
	}
	if it := r.item(a); it.GetId() == first.GetId() {
		t.Errorf("re-drift reused item id %s", it.GetId())
	}

	// Every returned event is in the log, in order, with distinct ids.
	log := r.log()
	if diff := cmp.Diff([]string{"OPENED:MODIFIED:a", "UPDATED:MODIFIED:a", "RESOLVED:MODIFIED:a", "OPENED:MODIFIED:a"}, types(log)); diff != "" {
		t.Errorf("event log (-want +got):\n%s", diff)
	}
	ids := map[string]bool{}
	for _, ev := range log {
		ids[ev.GetId()] = true
	}
	if len(ids) != len(log) {
		t.Errorf("event ids not unique: %v", ids)
	}
	r.checkDigest()
}

func TestTouchIsNotDrift(t *testing.T) {
	r := newRig(t)
	f := file("/etc/motd", "hello", 100)
	r.apply(upsert(f), checkpoint())
	before := r.host()

	touched := file("/etc/motd", "hello", 200)
	if evs := r.apply(upsert(touched)); len(evs) != 0 {
		t.Errorf("touch caused %v", types(evs))
	}
	after := r.host()
	if !bytes.Equal(before.Digest.Sum(), after.Digest.Sum()) || after.FactCount != 1 || after.AppliedSeq != r.seq {
		t.Errorf("touch changed digest or count, or seq not applied: %+v", after)
	}
	var got *plumbv1.Fact
	_ = r.st.View(t.Context(), func(tx store.ReadTx) error {
		got, _ = tx.Fact(hostID, keyOf(f))
		return nil
	})
	if got.GetFile().GetMtimeUnixNano() != 200 {
		t.Errorf("stored mtime %d, want the fresh 200", got.GetFile().GetMtimeUnixNano())
	}
	// A touch of a drifted file does not update its item either.
	r.apply(upsert(file("/etc/motd", "changed", 300)))
	if evs := r.apply(upsert(file("/etc/motd", "changed", 400))); len(evs) != 0 {
		t.Errorf("touch of a drifted file caused %v", types(evs))
	}
}

func TestAddedRemoved(t *testing.T) {
	r := newRig(t)
	a := sysctl("a", "1")
	r.apply(upsert(a), checkpoint())

	b := sysctl("b", "1")
	evs := r.apply(upsert(b), del(b))
	if diff := cmp.Diff([]string{"OPENED:ADDED:b", "RESOLVED:ADDED:b"}, types(evs)); diff != "" {
		t.Errorf("add then delete (-want +got):\n%s", diff)
	}
	if it := r.item(b); it.GetBaseline() != nil || it.GetCurrent() != nil {
		t.Errorf("resolved added item = %v", it)
	}

	evs = r.apply(del(a))
	if diff := cmp.Diff([]string{"OPENED:REMOVED:a"}, types(evs)); diff != "" {
		t.Errorf("delete baseline fact (-want +got):\n%s", diff)
	}
	if it := r.item(a); it.GetCurrent() != nil || it.GetBaseline().GetValue().GetValue() != "1" || it.GetObservedUnixNano() != 0 {
		t.Errorf("removed item = %v", it)
	}
	// Deleting what is gone changes nothing.
	if evs := r.apply(del(a)); len(evs) != 0 {
		t.Errorf("second delete caused %v", types(evs))
	}
	evs = r.apply(upsert(sysctl("a", "2")))
	if diff := cmp.Diff([]string{"UPDATED:MODIFIED:a"}, types(evs)); diff != "" {
		t.Errorf("re-add with another value (-want +got):\n%s", diff)
	}
	evs = r.apply(upsert(sysctl("a", "1")))
	if diff := cmp.Diff([]string{"RESOLVED:MODIFIED:a"}, types(evs)); diff != "" {
		t.Errorf("restore (-want +got):\n%s", diff)
	}
	if h := r.host(); h.OpenDrift != 0 || h.FactCount != 1 {
		t.Errorf("host = %+v", h)
	}
	r.checkDigest()
}

func TestDuplicateSeqIgnored(t *testing.T) {
	r := newRig(t)
	a := sysctl("a", "1")
	r.apply(upsert(a), checkpoint())
	evs := r.apply(&plumbv1.Delta{Seq: 10, Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: sysctl("a", "2")})
	if len(evs) != 1 {
		t.Fatalf("seq 10: %v", types(evs))
	}
	for _, seq := range []uint64{10, 9, 3} {
		evs := r.apply(&plumbv1.Delta{Seq: seq, Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: sysctl("a", "3")})
		if len(evs) != 0 {
			t.Errorf("seq %d re-applied: %v", seq, types(evs))
		}
	}
	if it := r.item(a); it.GetCurrent().GetValue().GetValue() != "2" {
		t.Errorf("current after duplicates = %v", it.GetCurrent())
	}
	if h := r.host(); h.AppliedSeq != 10 {
		t.Errorf("applied seq = %d, want 10", h.AppliedSeq)
	}
	if n := len(r.log()); n != 1 {
		t.Errorf("event log has %d events, want 1", n)
	}
}

func TestCheckpointDigest(t *testing.T) {
	r := newRig(t)
	r.apply(upsert(sysctl("a", "1")), upsert(sysctl("b", "1")))
	good := checkpoint()
	good.SetDigest = r.host().Digest.Sum()
	if _, err := r.applyErr(withSeq(r, good)); err != nil {
		t.Errorf("matching checkpoint: %v", err)
	}

	r.apply(upsert(sysctl("c", "1")))
	bad := withSeq(r, checkpoint())
	bad.SetDigest = good.SetDigest // the agent missed c
	_, err := r.applyErr(bad)
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), hostID) {
		t.Errorf("mismatching checkpoint: %v, want ErrDigestMismatch naming the host", err)
	}
	if h := r.host(); h.AppliedSeq != bad.Seq {
		t.Errorf("mismatching checkpoint not applied: seq %d, want %d", h.AppliedSeq, bad.Seq)
	}
	r.checkDigest()
}

func withSeq(r *rig, d *plumbv1.Delta) *plumbv1.Delta {
	r.seq++
	d.Seq = r.seq
	return d
}

func TestInvalidDeltas(t *testing.T) {
	r := newRig(t)
	noDigest := sysctl("a", "1")
	noDigest.Digest = nil
	for name, d := range map[string]*plumbv1.Delta{
		"unknown op":     {Op: plumbv1.DeltaOp_DELTA_OP_UNSPECIFIED},
		"upsert no fact": {Op: plumbv1.DeltaOp_DELTA_OP_UPSERT},
		"no kind":        {Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: &plumbv1.Fact{Key: []byte("x"), Digest: make([]byte, 32)}},
		"no digest":      upsert(noDigest),
		"delete no kind": {Op: plumbv1.DeltaOp_DELTA_OP_DELETE, Fact: &plumbv1.Fact{Key: []byte("x")}},
	} {
		d.Seq = 100
		if _, err := r.applyErr(d); !errors.Is(err, ErrInvalidDelta) {
			t.Errorf("%s: err = %v, want ErrInvalidDelta", name, err)
		}
	}
}

func TestItemAndEventIDsAreDistinct(t *testing.T) {
	k := keyOf(sysctl("a", "1"))
	delta, resync := cause{n: 1}, cause{resync: true, n: 1}
	ids := []string{
		itemID("h", k, delta), itemID("h", k, cause{n: 2}), itemID("h2", k, delta),
		itemID("h", keyOf(sysctl("b", "1")), delta),
		// Resyncs and deltas count apart: resync 1 is not delta 1.
		itemID("h", k, resync), itemID("h", k, cause{resync: true, n: 2}),
	}
	for _, typ := range []plumbv1.DriftEventType{1, 2, 3, 4} {
		ids = append(ids, eventID("i", typ, delta, nil), eventID("i", typ, delta, []byte{1}),
			eventID("i", typ, resync, nil), eventID("i", typ, resync, []byte{1}))
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != len(ids) {
		t.Errorf("ids collide: %v", ids)
	}
	if id := itemID("h", k, delta); len(id) != 32 || id != itemID("h", k, cause{n: 1}) {
		t.Errorf("item id %s: want 16 bytes in hex, the same for the same inputs", id)
	}
}

// A baseline is adopted only where the checkpoint's digest agrees with the
// collector's state: a mismatched checkpoint adopts nothing (before, it
// adopted first and compared after, making the wrong state the baseline).
func TestBaselineNotAdoptedOnDigestMismatch(t *testing.T) {
	r := newRig(t)
	var wrong fact.SetDigest
	wrong.Add(fact.Key{Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, ID: "other"}, make([]byte, 32))
	cp := checkpoint()
	cp.SetDigest = wrong.Sum()
	r.apply(upsert(sysctl("a", "1")))
	r.seq++
	cp.Seq = r.seq
	if _, err := r.applyErr(cp); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("mismatched checkpoint: err %v, want ErrDigestMismatch", err)
	}
	if h := r.host(); h.HasBaseline {
		t.Fatal("baseline adopted at a checkpoint whose digest disagrees")
	}
	r.apply(checkpoint())
	if h := r.host(); !h.HasBaseline {
		t.Fatal("no baseline after an agreeing checkpoint")
	}
}
