package drift

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

const hostID = "web-1"

var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// rig is a real bbolt store, an engine on a fixed clock and the next delta
// sequence number.
type rig struct {
	t   *testing.T
	st  *store.Bolt
	eng *Engine
	now time.Time
	seq uint64
}

func newRig(t *testing.T) *rig {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "plumb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	r := &rig{t: t, st: st, now: t0}
	r.eng = &Engine{Now: func() time.Time { return r.now }}
	return r
}

func sysctl(name, value string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{
		Kind:  plumbv1.FactKind_FACT_KIND_SYSCTL,
		Key:   []byte(name),
		Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: value}},
	})
}

func file(path, content string, mtime int64) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{
		Kind: plumbv1.FactKind_FACT_KIND_FILE,
		Key:  []byte(path),
		Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{
			Type: plumbv1.FileType_FILE_TYPE_REGULAR, Mode: 0o644, Size: int64(len(content)),
			Sha256: []byte(content), MtimeUnixNano: mtime,
		}},
		ObservedUnixNano: mtime,
	})
}

func upsert(f *plumbv1.Fact) *plumbv1.Delta {
	return &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: f, ObservedUnixNano: 99}
}

func del(f *plumbv1.Fact) *plumbv1.Delta {
	return &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_DELETE, Fact: &plumbv1.Fact{Kind: f.GetKind(), Key: f.GetKey()}}
}

func checkpoint() *plumbv1.Delta {
	return &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_CHECKPOINT}
}

// apply numbers the deltas from the rig's sequence and applies them in one
// transaction, the way ingest batches them. It returns the events.
func (r *rig) apply(ds ...*plumbv1.Delta) []*plumbv1.DriftEvent {
	r.t.Helper()
	for _, d := range ds {
		if d.Seq == 0 {
			r.seq++
			d.Seq = r.seq
		}
	}
	evs, err := r.applyErr(ds...)
	if err != nil {
		r.t.Fatalf("apply: %v", err)
	}
	return evs
}

func (r *rig) applyErr(ds ...*plumbv1.Delta) ([]*plumbv1.DriftEvent, error) {
	var out []*plumbv1.DriftEvent
	var keep error
	err := r.st.Update(context.Background(), func(tx store.Tx) error {
		h, err := tx.Host(hostID)
		if errors.Is(err, store.ErrNotFound) {
			h, err = &store.Host{ID: hostID}, nil
		}
		if err != nil {
			return err
		}
		for _, d := range ds {
			evs, err := r.eng.Apply(tx, h, d)
			if errors.Is(err, ErrDigestMismatch) {
				keep = err
			} else if err != nil {
				return err
			}
			out = append(out, evs...)
		}
		return tx.PutHost(h)
	})
	if err != nil {
		return nil, err
	}
	return out, keep
}

func (r *rig) host() *store.Host {
	r.t.Helper()
	var h *store.Host
	err := r.st.View(context.Background(), func(tx store.ReadTx) error {
		var err error
		h, err = tx.Host(hostID)
		return err
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return h
}

func (r *rig) item(f *plumbv1.Fact) *plumbv1.DriftItem {
	r.t.Helper()
	var it *plumbv1.DriftItem
	err := r.st.View(context.Background(), func(tx store.ReadTx) error {
		var err error
		it, err = tx.Drift(hostID, fact.KeyOf(f))
		return err
	})
	if err != nil {
		r.t.Fatalf("drift item of %s: %v", fact.KeyOf(f), err)
	}
	return it
}

func (r *rig) baseline(f *plumbv1.Fact) *plumbv1.Fact {
	r.t.Helper()
	var b *plumbv1.Fact
	err := r.st.View(context.Background(), func(tx store.ReadTx) error {
		var err error
		b, err = tx.Baseline(hostID, fact.KeyOf(f))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// log returns every event in the store's event log.
func (r *rig) log() []*plumbv1.DriftEvent {
	r.t.Helper()
	var evs []*plumbv1.DriftEvent
	err := r.st.View(context.Background(), func(tx store.ReadTx) error {
		var err error
		evs, err = tx.EventsAfter(0, 1<<20)
		return err
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return evs
}

// checkDigest verifies the host's digest and count against its facts.
func (r *rig) checkDigest() {
	r.t.Helper()
	var want fact.SetDigest
	var n uint64
	err := r.st.View(context.Background(), func(tx store.ReadTx) error {
		return tx.Facts(hostID, 0, func(f *plumbv1.Fact) error {
			want.Add(fact.KeyOf(f), f.GetDigest())
			n++
			return nil
		})
	})
	if err != nil {
		r.t.Fatal(err)
	}
	h := r.host()
	if fmt.Sprintf("%x", h.Digest.Sum()) != fmt.Sprintf("%x", want.Sum()) || h.FactCount != n {
		r.t.Errorf("host digest/count %x/%d, facts say %x/%d", h.Digest.Sum(), h.FactCount, want.Sum(), n)
	}
}

// types summarizes events as "TYPE:CHANGE:key".
func types(evs []*plumbv1.DriftEvent) []string {
	out := make([]string, 0, len(evs))
	for _, ev := range evs {
		out = append(out, fmt.Sprintf("%s:%s:%s",
			ev.GetType().String()[len("DRIFT_EVENT_TYPE_"):],
			ev.GetItem().GetChange().String()[len("DRIFT_CHANGE_"):],
			ev.GetItem().GetKey()))
	}
	return out
}

func keyOf(f *plumbv1.Fact) fact.Key { return fact.KeyOf(f) }
