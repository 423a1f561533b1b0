package history_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/history"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

func sysctl(name, value string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{
		Kind:  plumbv1.FactKind_FACT_KIND_SYSCTL,
		Key:   []byte(name),
		Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: value}},
	})
}

// TestAtMatchesReplay applies seeded random upserts and deletes through
// the drift engine at controlled times (several per instant, some
// instants skipped), keeps its own replay of the host's state after every
// instant, then checks that the facts reconstructed at every instant (and
// between instants) equal the replay, and that Between names exactly the
// facts whose value differs between two instants.
func TestAtMatchesReplay(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))

	st, err := store.Open(filepath.Join(t.TempDir(), "plumb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	now := t0
	eng := &drift.Engine{Now: func() time.Time { return now }}
	const host = "h1"
	ctx := context.Background()
	seq := uint64(0)
	apply := func(ds ...*plumbv1.Delta) {
		t.Helper()
		err := st.Update(ctx, func(tx store.Tx) error {
			h, err := tx.Host(host)
			if err != nil {
				h = &store.Host{ID: host}
			}
			for _, d := range ds {
				seq++
				d.Seq = seq
				if _, err := eng.Apply(tx, h, d); err != nil {
					return err
				}
			}
			return tx.PutHost(h)
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	// The replay: the value of each key (by name) after each instant.
	state := map[string]string{}
	snapshot := func() map[string]string {
		c := make(map[string]string, len(state))
		for k, v := range state {
			c[k] = v
		}
		return c
	}
	for i := range 20 {
		name := fmt.Sprintf("k%02d", i)
		state[name] = "v0"
		apply(&plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: sysctl(name, "v0")})
	}
	apply(&plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_CHECKPOINT})
	times := []time.Time{now}
	replay := []map[string]string{snapshot()}
	for step := 1; step <= 200; step++ {
		now = t0.Add(time.Duration(step) * time.Second)
		if rng.IntN(5) == 0 {
			continue // an instant with no change
		}
		var ds []*plumbv1.Delta
		for range 1 + rng.IntN(4) {
			name := fmt.Sprintf("k%02d", rng.IntN(30))
			if _, ok := state[name]; ok && rng.IntN(4) == 0 {
				delete(state, name)
				ds = append(ds, &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_DELETE, Fact: &plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, Key: []byte(name)}})
				continue
			}
			v := fmt.Sprintf("v%d", rng.IntN(4))
			state[name] = v
			ds = append(ds, &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: sysctl(name, v)})
		}
		apply(ds...)
		times = append(times, now)
		replay = append(replay, snapshot())
	}

	factsAt := func(at int64) map[string]string {
		t.Helper()
		got := map[string]string{}
		err := st.View(ctx, func(tx store.ReadTx) error {
			u, err := history.At(tx, host, at)
			if err != nil {
				return err
			}
			if err := tx.Facts(host, 0, func(f *plumbv1.Fact) error {
				if _, undone := u[fact.KeyOf(f)]; !undone {
					got[string(f.GetKey())] = f.GetValue().GetValue()
				}
				return nil
			}); err != nil {
				return err
			}
			for k, f := range u {
				if f != nil {
					got[k.ID] = f.GetValue().GetValue()
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for i, at := range times {
		for _, probe := range []int64{at.UnixNano(), at.UnixNano() + int64(time.Second/2)} {
			got := factsAt(probe)
			if !equal(got, replay[i]) {
				t.Fatalf("facts at %v (instant %d): got %v, replay %v", time.Unix(0, probe).UTC(), i, got, replay[i])
			}
		}
	}
	for range 50 {
		i, j := rng.IntN(len(times)), rng.IntN(len(times))
		if i > j {
			i, j = j, i
		}
		var changes []history.Change
		err := st.View(ctx, func(tx store.ReadTx) error {
			var err error
			changes, err = history.Between(tx, host, times[i].UnixNano(), times[j].UnixNano())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{}
		for k, v := range replay[i] {
			if w, ok := replay[j][k]; !ok || w != v {
				want[k] = true
			}
		}
		for k := range replay[j] {
			if _, ok := replay[i][k]; !ok {
				want[k] = true
			}
		}
		if len(changes) != len(want) {
			t.Fatalf("between instants %d and %d: %d changes, replay says %d (%v)", i, j, len(changes), len(want), want)
		}
		for _, c := range changes {
			if !want[c.Key.ID] {
				t.Fatalf("between instants %d and %d: %s listed, but the replay has it unchanged", i, j, c.Key.ID)
			}
			if b, ok := replay[i][c.Key.ID]; ok != (c.Before != nil) || (ok && b != c.Before.GetValue().GetValue()) {
				t.Fatalf("between instants %d and %d: %s before = %v, replay %q (present %v)", i, j, c.Key.ID, c.Before, b, ok)
			}
			if a, ok := replay[j][c.Key.ID]; ok != (c.After != nil) || (ok && a != c.After.GetValue().GetValue()) {
				t.Fatalf("between instants %d and %d: %s after = %v, replay %q (present %v)", i, j, c.Key.ID, c.After, a, ok)
			}
		}
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
