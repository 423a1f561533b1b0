package driftstats_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/driftstats"
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

// TestComputeAgainstReplay drives seeded random drift (a value set away
// from its baseline and back) on hosts of two groups at controlled times,
// keeps its own count of transitions, open items and open-to-close times,
// and compares Compute's per-host and per-group figures, and the metrics.
func TestComputeAgainstReplay(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	st, err := store.Open(filepath.Join(t.TempDir(), "plumb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	now := t0
	eng := &drift.Engine{Now: func() time.Time { return now }}
	hosts := map[string]string{"w1": "web", "w2": "web", "d1": "db"}
	seqs := map[string]uint64{}
	apply := func(host string, ds ...*plumbv1.Delta) {
		t.Helper()
		err := st.Update(ctx, func(tx store.Tx) error {
			h, err := tx.Host(host)
			if err != nil {
				h = &store.Host{ID: host, Labels: map[string]string{"group": hosts[host]}}
			}
			for _, d := range ds {
				seqs[host]++
				d.Seq = seqs[host]
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
	up := func(name, v string) *plumbv1.Delta {
		return &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: sysctl(name, v)}
	}
	for h := range hosts {
		var ds []*plumbv1.Delta
		for i := range 5 {
			ds = append(ds, up(fmt.Sprintf("k%d", i), "base"))
		}
		apply(h, append(ds, &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_CHECKPOINT})...)
	}
	type want struct {
		transitions, resolved uint64
		nanos                 int64
	}
	// The replay: per host, the value and open time of each key.
	wants := map[string]*want{}
	openSince := map[string]map[string]time.Time{}
	values := map[string]map[string]string{}
	for h := range hosts {
		wants[h], openSince[h], values[h] = &want{}, map[string]time.Time{}, map[string]string{}
	}
	ids := []string{"w1", "w2", "d1"}
	for step := 1; step <= 300; step++ {
		now = t0.Add(time.Duration(step) * time.Minute)
		h := ids[rng.IntN(len(ids))]
		k := fmt.Sprintf("k%d", rng.IntN(5))
		v := []string{"base", "x", "y"}[rng.IntN(3)]
		old := values[h][k]
		if old == "" {
			old = "base"
		}
		if v == old {
			continue
		}
		values[h][k] = v
		w := wants[h]
		w.transitions++ // opened, updated or resolved
		switch {
		case v == "base":
			w.resolved++
			w.nanos += int64(now.Sub(openSince[h][k]))
			delete(openSince[h], k)
		case old == "base":
			openSince[h][k] = now
		}
		apply(h, up(k, v))
	}
	end := now.Add(time.Minute)
	var f *driftstats.Fleet
	if err := st.View(ctx, func(tx store.ReadTx) error {
		var err error
		f, err = driftstats.Compute(tx, "", "group", t0, end)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	groupOpen := map[string]uint64{}
	for h, w := range wants {
		s := f.Hosts[h]
		open := uint64(len(openSince[h]))
		groupOpen[hosts[h]] += open
		// sysctl items are warnings by the shipped severity rules... or
		// whatever they are: the score is open × the weight of one.
		if s.Transitions != w.transitions || s.Resolved != w.resolved || s.ResolveNanos != w.nanos || s.Open != open {
			t.Errorf("host %s: %+v, replay %+v open %d", h, s, w, open)
		}
		if open > 0 && s.Score%open != 0 {
			t.Errorf("host %s: score %d is not a multiple of its %d open items of one kind", h, s.Score, open)
		}
		if w.resolved > 0 && s.MTTR() != time.Duration(w.nanos/int64(w.resolved)) {
			t.Errorf("host %s: MTTR %v, replay %v", h, s.MTTR(), time.Duration(w.nanos/int64(w.resolved)))
		}
	}
	web, db := f.Groups["web"], f.Groups["db"]
	if web == nil || db == nil || web.Hosts != 2 || db.Hosts != 1 ||
		web.Transitions != wants["w1"].transitions+wants["w2"].transitions || db.Open != groupOpen["db"] {
		t.Errorf("groups: web %+v db %+v", web, db)
	}
	// A window after everything: no transitions, the same open items.
	if err := st.View(ctx, func(tx store.ReadTx) error {
		g, err := driftstats.Compute(tx, "w1", "group", end, end.Add(time.Hour))
		if err != nil {
			return err
		}
		if s := g.Hosts["w1"]; s.Transitions != 0 || s.Open != uint64(len(openSince["w1"])) || len(g.Hosts) != 1 {
			t.Errorf("empty window, host w1: %+v", s)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(driftstats.NewMetrics(st, "group", 24*time.Hour))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		if mf.GetName() == "plumb_collector_group_hosts" {
			for _, m := range mf.GetMetric() {
				series++
				if g := m.GetLabel()[0].GetValue(); (g == "web") != (m.GetGauge().GetValue() == 2) {
					t.Errorf("plumb_collector_group_hosts{group=%q} = %v", g, m.GetGauge().GetValue())
				}
			}
		}
	}
	if series != 2 {
		t.Errorf("%d series of plumb_collector_group_hosts, want 2 (web, db)", series)
	}
}

// TestScoreWeights pins the documented weights.
func TestScoreWeights(t *testing.T) {
	c := &plumbv1.OpenDriftCounts{Critical: 1, Warning: 2, Info: 3, Health: 4}
	if got := driftstats.Score(c); got != 10+6+3+20 {
		t.Errorf("score %d, want 39", got)
	}
}

// TestMetricsGroupsBounded: hosts of more groups than MaxGroups give
// MaxGroups series, the smallest groups summed under OtherGroup.
func TestMetricsGroupsBounded(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "plumb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = driftstats.MaxGroups + 10
	err = st.Update(context.Background(), func(tx store.Tx) error {
		for i := range n {
			if err := tx.PutHost(&store.Host{ID: fmt.Sprintf("h%03d", i), Labels: map[string]string{"group": fmt.Sprintf("g%03d", i)}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(driftstats.NewMetrics(st, "group", time.Hour))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "plumb_collector_group_hosts" {
			continue
		}
		total := 0.0
		for _, m := range mf.GetMetric() {
			total += m.GetGauge().GetValue()
		}
		if len(mf.GetMetric()) != driftstats.MaxGroups || total != n {
			t.Errorf("%d series holding %v hosts, want %d series holding %d", len(mf.GetMetric()), total, driftstats.MaxGroups, n)
		}
		return
	}
	t.Fatal("no plumb_collector_group_hosts")
}
