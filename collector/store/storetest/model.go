package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// modelTests: a seeded random workload against a model kept in maps.
var modelTests = []test{
	{"RandomWorkloadMatchesModel", testRandomWorkload},
}

// model is what the store should hold: per table, host, encoded key.
type model map[string]map[string]map[string]any

func (m model) clone() model {
	out := model{}
	for table, hosts := range m {
		out[table] = map[string]map[string]any{}
		for h, vals := range hosts {
			out[table][h] = maps.Clone(vals)
		}
	}
	return out
}

func (m model) set(table, host, key string, v any) {
	if m[table] == nil {
		m[table] = map[string]map[string]any{}
	}
	if m[table][host] == nil {
		m[table][host] = map[string]any{}
	}
	if v == nil {
		delete(m[table][host], key)
		return
	}
	m[table][host][key] = v
}

// sortedValues returns the host's values in key byte order.
func (m model) sortedValues(table, host string) []any {
	vals := m[table][host]
	var out []any
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		out = append(out, vals[k])
	}
	return out
}

// op is one write of the workload; apply does it to a transaction, and
// to the model.
type op struct {
	table string // "facts", "baselines", "drift"
	host  string
	key   fact.Key
	fact  *plumbv1.Fact      // nil: delete
	item  *plumbv1.DriftItem // nil: delete
}

func (o op) apply(tx store.Tx) error {
	switch o.table {
	case "facts":
		if o.fact == nil {
			return tx.DeleteFact(o.host, o.key)
		}
		return tx.PutFact(o.host, o.fact)
	case "baselines":
		if o.fact == nil {
			return tx.DeleteBaseline(o.host, o.key)
		}
		return tx.PutBaseline(o.host, o.fact)
	default:
		if o.item == nil {
			return tx.DeleteDrift(o.host, o.key)
		}
		return tx.PutDrift(o.item)
	}
}

func (o op) record(m model) {
	var v any
	switch {
	case o.fact != nil:
		v = o.fact
	case o.item != nil:
		v = o.item
	}
	m.set(o.table, o.host, string(o.key.Encode()), v)
}

// testRandomWorkload: Updates of random puts and deletes of facts,
// baselines and drift items over a few hosts (some Updates failing at
// the end), then every read of those agrees with the model.
func testRandomWorkload(t *testing.T, b Backend) {
	rng := seeded(t)
	s := b.Open(t)
	hosts := []string{"h", "hh", "h h", "B", "é"}
	kinds := []plumbv1.FactKind{plumbv1.FactKind_FACT_KIND_FILE, plumbv1.FactKind_FACT_KIND_KMOD,
		plumbv1.FactKind_FACT_KIND_SYSCTL, plumbv1.FactKind_FACT_KIND_HEALTH}
	keys := factKeys[:12]
	randomOp := func() op {
		o := op{table: []string{"facts", "facts", "baselines", "drift"}[rng.IntN(4)], host: hosts[rng.IntN(len(hosts))]}
		o.key = fact.Key{Kind: kinds[rng.IntN(len(kinds))], ID: keys[rng.IntN(len(keys))]}
		if rng.IntN(4) == 0 {
			return o // a delete, often of something missing
		}
		f := fact.Seal(&plumbv1.Fact{Kind: o.key.Kind, Key: []byte(o.key.ID),
			Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: fmt.Sprint(rng.IntN(1000))}}})
		if o.table != "drift" {
			o.fact = f
			return o
		}
		o.item = &plumbv1.DriftItem{Id: fmt.Sprint("d", rng.IntN(1000)), HostId: o.host, Kind: o.key.Kind, Key: []byte(o.key.ID),
			Status: plumbv1.DriftStatus(rng.IntN(4)), Severity: plumbv1.Severity(rng.IntN(4)), Current: f}
		return o
	}
	m := model{}
	boom := errors.New("planned failure")
	for u := range 60 {
		ops := make([]op, 1+rng.IntN(20))
		for i := range ops {
			ops[i] = randomOp()
		}
		fail := rng.IntN(6) == 0
		err := s.Update(t.Context(), func(tx store.Tx) error {
			for _, o := range ops {
				if err := o.apply(tx); err != nil {
					return err
				}
			}
			if fail {
				return boom
			}
			return nil
		})
		switch {
		case fail && errors.Is(err, boom):
		case err != nil:
			t.Fatalf("update %d: %v", u, err)
		default:
			next := m.clone()
			for _, o := range ops {
				o.record(next)
			}
			m = next
		}
	}
	view(t, s, func(tx store.ReadTx) error {
		opts := []cmp.Option{protocmp.Transform()}
		var allDrift []any
		for _, h := range slices.Sorted(slices.Values(hosts)) {
			var facts, baselines, drift, open []any
			if err := tx.Facts(h, 0, func(f *plumbv1.Fact) error { facts = append(facts, f); return nil }); err != nil {
				return err
			}
			if err := tx.Baselines(h, func(f *plumbv1.Fact) error { baselines = append(baselines, f); return nil }); err != nil {
				return err
			}
			if err := tx.DriftItems(h, true, func(it *plumbv1.DriftItem) error { drift = append(drift, it); return nil }); err != nil {
				return err
			}
			if err := tx.DriftItems(h, false, func(it *plumbv1.DriftItem) error { open = append(open, it); return nil }); err != nil {
				return err
			}
			if d := cmp.Diff(m.sortedValues("facts", h), facts, opts...); d != "" {
				t.Errorf("Facts(%q) (-model +store):\n%s", h, d)
			}
			if d := cmp.Diff(m.sortedValues("baselines", h), baselines, opts...); d != "" {
				t.Errorf("Baselines(%q) (-model +store):\n%s", h, d)
			}
			wantDrift := m.sortedValues("drift", h)
			if d := cmp.Diff(wantDrift, drift, opts...); d != "" {
				t.Errorf("DriftItems(%q, closed too) (-model +store):\n%s", h, d)
			}
			var wantOpen []any
			counts := &plumbv1.OpenDriftCounts{}
			for _, v := range wantDrift {
				it := v.(*plumbv1.DriftItem)
				if it.GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_OPEN {
					continue
				}
				wantOpen = append(wantOpen, it)
				switch {
				case it.GetKind() == plumbv1.FactKind_FACT_KIND_HEALTH:
					counts.Health++
					counts.HealthKeys = append(counts.HealthKeys, fact.Display(it.GetKey()))
				case it.GetSeverity() == plumbv1.Severity_SEVERITY_CRITICAL:
					counts.Critical++
				case it.GetSeverity() == plumbv1.Severity_SEVERITY_WARNING:
					counts.Warning++
				default:
					counts.Info++
				}
			}
			if d := cmp.Diff(wantOpen, open, opts...); d != "" {
				t.Errorf("DriftItems(%q, open) (-model +store):\n%s", h, d)
			}
			got, err := tx.OpenDriftCounts(h)
			if err != nil {
				return err
			}
			if d := cmp.Diff(counts, got, opts...); d != "" {
				t.Errorf("OpenDriftCounts(%q) (-model +store):\n%s", h, d)
			}
			allDrift = append(allDrift, wantDrift...)
			// Point reads agree, present or not.
			for _, k := range keys[:6] {
				for _, kind := range kinds {
					key := fact.Key{Kind: kind, ID: k}
					for table, get := range map[string]func() (any, error){
						"facts":     func() (any, error) { return tx.Fact(h, key) },
						"baselines": func() (any, error) { return tx.Baseline(h, key) },
						"drift":     func() (any, error) { return tx.Drift(h, key) },
					} {
						got, err := get()
						want, ok := m[table][h][string(key.Encode())]
						switch {
						case !ok && !errors.Is(err, store.ErrNotFound):
							t.Errorf("%s of %q %s: %v, %v; want ErrNotFound", table, h, key, got, err)
						case ok && (err != nil || !cmp.Equal(want, got, opts...)):
							t.Errorf("%s of %q %s: %v, %v; want %v", table, h, key, got, err, want)
						}
					}
				}
			}
			// Facts by bucket add up to the host's facts.
			n := 0
			for bk := range uint32(fact.BucketCount) {
				if err := tx.FactsInBucket(h, bk, func(f *plumbv1.Fact) error {
					if fact.KeyOf(f).Bucket() != bk || m["facts"][h][string(fact.KeyOf(f).Encode())] == nil {
						t.Errorf("FactsInBucket(%q, %d) returned %s", h, bk, fact.KeyOf(f))
					}
					n++
					return nil
				}); err != nil {
					return err
				}
			}
			if n != len(facts) {
				t.Errorf("FactsInBucket of %q: %d facts in all, want %d", h, n, len(facts))
			}
		}
		var all []any
		if err := tx.DriftItems("", true, func(it *plumbv1.DriftItem) error { all = append(all, it); return nil }); err != nil {
			return err
		}
		if d := cmp.Diff(allDrift, all, opts...); d != "" {
			t.Errorf("DriftItems of every host (-model +store):\n%s", d)
		}
		return nil
	})
}
