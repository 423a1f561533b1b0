package drift

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// sameBucket returns n sysctl names whose keys share one set-digest
// bucket, and that bucket.
func sameBucket(n int) ([]string, uint32) {
	byBucket := map[uint32][]string{}
	for i := 0; ; i++ {
		name := fmt.Sprintf("k%d", i)
		b := keyOf(sysctl(name, "")).Bucket()
		byBucket[b] = append(byBucket[b], name)
		if len(byBucket[b]) == n {
			return byBucket[b], b
		}
	}
}

func (r *rig) replace(b uint32, facts []*plumbv1.Fact) ([]*plumbv1.DriftEvent, error) {
	var evs []*plumbv1.DriftEvent
	err := r.st.Update(r.t.Context(), func(tx store.Tx) error {
		h, err := tx.Host(hostID)
		if err != nil {
			return err
		}
		if evs, err = r.eng.ReplaceBucket(tx, h, b, facts); err != nil {
			return err
		}
		return tx.PutHost(h)
	})
	return evs, err
}

func TestReplaceBucket(t *testing.T) {
	r := newRig(t)
	names, b := sameBucket(4)
	keep, modify, remove, add := names[0], names[1], names[2], names[3]
	other := "elsewhere"
	for keyOf(sysctl(other, "")).Bucket() == b {
		other += "x"
	}
	r.apply(upsert(sysctl(keep, "1")), upsert(sysctl(modify, "1")), upsert(sysctl(remove, "1")),
		upsert(sysctl(other, "1")), checkpoint())
	before := r.host()

	evs, err := r.replace(b, []*plumbv1.Fact{sysctl(add, "1"), sysctl(keep, "1"), sysctl(modify, "2")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"OPENED:REMOVED:" + remove}
	for _, k := range sortedKeys(map[fact.Key]bool{keyOf(sysctl(add, "")): true, keyOf(sysctl(modify, "")): true}) {
		if k.ID == add {
			want = append(want, "OPENED:ADDED:"+add)
		} else {
			want = append(want, "OPENED:MODIFIED:"+modify)
		}
	}
	if diff := cmp.Diff(want, types(evs)); diff != "" {
		t.Errorf("resync events (-want +got):\n%s", diff)
	}
	h := r.host()
	if h.FactCount != 4 || h.OpenDrift != 3 || h.AppliedSeq != before.AppliedSeq || h.Resyncs != before.Resyncs+1 {
		t.Errorf("host after resync: count %d open %d seq %d resyncs %d", h.FactCount, h.OpenDrift, h.AppliedSeq, h.Resyncs)
	}
	r.checkDigest()
	// Facts in other buckets are untouched.
	_ = r.st.View(t.Context(), func(tx store.ReadTx) error {
		if _, err := tx.Fact(hostID, keyOf(sysctl(other, ""))); err != nil {
			t.Errorf("fact outside the bucket: %v", err)
		}
		if _, err := tx.Drift(hostID, keyOf(sysctl(other, ""))); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("drift outside the bucket: %v", err)
		}
		return nil
	})

	// Replacing with the baseline's contents resolves everything.
	evs, err = r.replace(b, []*plumbv1.Fact{sysctl(keep, "1"), sysctl(modify, "1"), sysctl(remove, "1")})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Errorf("resync back to baseline: %v", types(evs))
	}
	for _, ev := range evs {
		if ev.GetType() != plumbv1.DriftEventType_DRIFT_EVENT_TYPE_RESOLVED {
			t.Errorf("event %v, want RESOLVED", types([]*plumbv1.DriftEvent{ev}))
		}
	}
	if h := r.host(); h.OpenDrift != 0 || h.FactCount != 4 {
		t.Errorf("host = %+v", h)
	}
	r.checkDigest()

	// An empty snapshot empties the bucket, leaving other buckets alone.
	if _, err := r.replace(b, nil); err != nil {
		t.Fatal(err)
	}
	if h := r.host(); h.FactCount != 1 {
		t.Errorf("fact count after emptying the bucket = %d, want 1 (%s)", h.FactCount, other)
	}
	if got := r.host().Digest.Bucket(b); fmt.Sprintf("%x", got) != fmt.Sprintf("%x", make([]byte, 32)) {
		t.Errorf("emptied bucket digest = %x", got)
	}
	r.checkDigest()
}

func TestReplaceBucketRejectsStrangers(t *testing.T) {
	r := newRig(t)
	r.apply(checkpoint())
	names, b := sameBucket(1)
	stranger := "s"
	for keyOf(sysctl(stranger, "")).Bucket() == b {
		stranger += "s"
	}
	_, err := r.replace(b, []*plumbv1.Fact{sysctl(names[0], "1"), sysctl(stranger, "1")})
	if !errors.Is(err, ErrInvalidDelta) {
		t.Errorf("fact from another bucket: %v, want ErrInvalidDelta", err)
	}
	if _, err := r.replace(fact.BucketCount, nil); !errors.Is(err, ErrInvalidDelta) {
		t.Errorf("bucket out of range: %v, want ErrInvalidDelta", err)
	}
	if h := r.host(); h.FactCount != 0 {
		t.Errorf("rejected resync wrote facts: %d", h.FactCount)
	}
}

// TestIDsStableAcrossReapply applies the same deltas to two copies of one
// database, as after a crash before commit, and expects identical events.
func TestIDsStableAcrossReapply(t *testing.T) {
	r := newRig(t)
	names, b := sameBucket(2)
	r.apply(upsert(sysctl("a", "1")), upsert(sysctl("b", "1")), upsert(sysctl(names[0], "1")), checkpoint())
	r.apply(upsert(sysctl("a", "2")))
	path := r.st.Path()
	if err := r.st.Close(); err != nil {
		t.Fatal(err)
	}

	run := func(i int) []*plumbv1.DriftEvent {
		dst := filepath.Join(t.TempDir(), fmt.Sprintf("copy%d.db", i))
		copyFile(t, path, dst)
		st, err := store.Open(dst, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		r2 := &rig{t: t, st: st, eng: &Engine{Now: func() time.Time { return t0 }}, seq: r.seq}
		evs := r2.apply(upsert(sysctl("a", "3")), del(sysctl("b", "")), upsert(sysctl("c", "1")), upsert(sysctl("a", "1")))
		more, err := r2.replace(b, []*plumbv1.Fact{sysctl(names[1], "1")})
		if err != nil {
			t.Fatal(err)
		}
		k := keyOf(sysctl("c", ""))
		err = st.Update(context.Background(), func(tx store.Tx) error {
			_, acc, err := r2.eng.Accept(tx, hostID, &k, nil, "ops", "ok")
			more = append(more, acc...)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return append(evs, more...)
	}
	first, second := run(1), run(2)
	if len(first) != 7 {
		t.Errorf("events: %v", types(first))
	}
	if diff := cmp.Diff(first, second, protocmp.Transform()); diff != "" {
		t.Errorf("re-application differs (-first +second):\n%s", diff)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// A resync resends every fact of a bucket. One whose volatile attributes
// changed (a touch) is stored afresh without drift; one that is exactly
// the value stored is left as it is, also without drift.
func TestReplaceBucketKeepsFreshVolatileAttributes(t *testing.T) {
	r := newRig(t)
	f := file("/etc/hosts", "a", 1)
	b := keyOf(f).Bucket()
	r.apply(upsert(f), checkpoint())
	stored := func() *plumbv1.Fact {
		var got *plumbv1.Fact
		err := r.st.View(r.t.Context(), func(tx store.ReadTx) error {
			var err error
			got, err = tx.Fact(hostID, keyOf(f))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	touched := file("/etc/hosts", "a", 2)
	for round, want := range []*plumbv1.Fact{touched, touched} {
		evs, err := r.replace(b, []*plumbv1.Fact{want})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 0 {
			t.Fatalf("round %d: %d events for a touch", round, len(evs))
		}
		if got := stored(); got.GetFile().GetMtimeUnixNano() != 2 {
			t.Fatalf("round %d: stored mtime %d, want the resent 2", round, got.GetFile().GetMtimeUnixNano())
		}
	}
}
