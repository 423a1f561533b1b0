package drift

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/golden"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// fleet is several hosts on one store, each with its own delta sequence,
// and a model of what each host has, is held to, and drifts from.
type fleet struct {
	t     *testing.T
	st    *store.Bolt
	eng   *Engine
	seq   map[string]uint64
	group map[string]string
	// have is each host's current facts (key -> value), own its own
	// baseline, exc its exceptions (key -> accepted value, "" absent).
	have, own map[string]map[string]string
	exc       map[string]map[string]string
	// golden is each group's baseline (key -> value).
	golden map[string]map[string]string
}

func newFleet(t *testing.T) *fleet {
	st, err := store.Open(filepath.Join(t.TempDir(), "plumb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &fleet{t: t, st: st, eng: &Engine{Now: func() time.Time { return t0 }},
		seq: map[string]uint64{}, group: map[string]string{},
		have: map[string]map[string]string{}, own: map[string]map[string]string{},
		exc: map[string]map[string]string{}, golden: map[string]map[string]string{}}
}

// factOf makes a fact of key: /etc/hostname is a file, the rest sysctls.
func factOf(key, value string) *plumbv1.Fact {
	if key == "/etc/hostname" {
		return file(key, value, 1)
	}
	return sysctl(key, value)
}

func (f *fleet) apply(host string, ds ...*plumbv1.Delta) []*plumbv1.DriftEvent {
	f.t.Helper()
	var out []*plumbv1.DriftEvent
	err := f.st.Update(context.Background(), func(tx store.Tx) error {
		h, err := tx.Host(host)
		if errors.Is(err, store.ErrNotFound) {
			h, err = &store.Host{ID: host, Labels: map[string]string{}}, nil
			if g := f.group[host]; g != "" {
				h.Labels[golden.GroupLabel] = g
			}
		}
		if err != nil {
			return err
		}
		for _, d := range ds {
			f.seq[host]++
			d.Seq = f.seq[host]
			evs, err := f.eng.Apply(tx, h, d)
			if err != nil {
				return err
			}
			out = append(out, evs...)
		}
		return tx.PutHost(h)
	})
	if err != nil {
		f.t.Fatalf("apply %s: %v", host, err)
	}
	return out
}

// join gives host its first snapshot.
func (f *fleet) join(host, group string, facts map[string]string) {
	f.group[host] = group
	var ds []*plumbv1.Delta
	for _, k := range sortedStrings(facts) {
		ds = append(ds, upsert(factOf(k, facts[k])))
	}
	f.apply(host, append(ds, checkpoint())...)
	f.have[host] = clone(facts)
	f.own[host] = clone(facts)
	f.exc[host] = map[string]string{}
}

// set changes one fact of host ("" deletes it).
func (f *fleet) set(host, key, value string) {
	if value == "" {
		f.apply(host, del(factOf(key, "x")))
		delete(f.have[host], key)
		return
	}
	f.apply(host, upsert(factOf(key, value)))
	f.have[host][key] = value
}

// promote makes host's facts the group's baseline and re-evaluates every
// member in batches of two hosts per transaction, as the API does.
func (f *fleet) promote(host, group string) *store.GroupBaseline {
	f.t.Helper()
	var gb *store.GroupBaseline
	err := f.st.Update(context.Background(), func(tx store.Tx) error {
		var err error
		gb, err = f.eng.Promote(tx, host, group, store.Selection{}, "alice", "golden")
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	var members []string
	for h, g := range f.group {
		if g == group {
			members = append(members, h)
		}
	}
	slices.Sort(members)
	for batch := range slices.Chunk(members, 2) {
		err := f.st.Update(context.Background(), func(tx store.Tx) error {
			for _, m := range batch {
				if _, err := f.eng.Regroup(tx, m, group, gb.Generation, nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			f.t.Fatal(err)
		}
	}
	g := map[string]string{}
	for k, v := range f.have[host] {
		if k != "/etc/hostname" {
			g[k] = v
		}
	}
	f.golden[group] = g
	return gb
}

func (f *fleet) accept(host, key string) []*plumbv1.DriftItem {
	f.t.Helper()
	var items []*plumbv1.DriftItem
	k := fact.KeyOf(factOf(key, "x"))
	err := f.st.Update(context.Background(), func(tx store.Tx) error {
		var err error
		items, _, err = f.eng.Accept(tx, host, &k, nil, "bob", "canary")
		return err
	})
	if err != nil {
		f.t.Fatalf("accept %s %s: %v", host, key, err)
	}
	f.own[host][key] = f.have[host][key]
	if items[0].GetBaselineGroup() != "" {
		f.exc[host][key] = f.have[host][key]
	}
	return items
}

// want is the model's open drift of host: "key:group" for each fact that
// differs from what the host is held to.
func (f *fleet) want(host string) []string {
	g := f.golden[f.group[host]]
	keys := map[string]bool{}
	for k := range f.have[host] {
		keys[k] = true
	}
	for k := range f.own[host] {
		keys[k] = true
	}
	for k := range g {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		expect, by := f.own[host][k], ""
		if _, isExc := f.exc[host][k]; g != nil && !isExc && k != "/etc/hostname" {
			expect, by = g[k], f.group[host]
		}
		if f.have[host][k] != expect {
			out = append(out, k+":"+by)
		}
	}
	slices.Sort(out)
	return out
}

func (f *fleet) open(host string) []string {
	f.t.Helper()
	var out []string
	err := f.st.View(context.Background(), func(tx store.ReadTx) error {
		return tx.DriftItems(host, false, func(it *plumbv1.DriftItem) error {
			out = append(out, string(it.GetKey())+":"+it.GetBaselineGroup())
			return nil
		})
	})
	if err != nil {
		f.t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func (f *fleet) check(step string) {
	f.t.Helper()
	for _, h := range sortedStrings(f.have) {
		if d := cmp.Diff(f.want(h), f.open(h)); d != "" {
			f.t.Errorf("%s: host %s open drift (-want +got):\n%s", step, h, d)
		}
		var n uint64
		_ = f.st.View(context.Background(), func(tx store.ReadTx) error {
			hh, err := tx.Host(h)
			n = hh.OpenDrift
			return err
		})
		if int(n) != len(f.want(h)) {
			f.t.Errorf("%s: host %s OpenDrift = %d, want %d", step, h, n, len(f.want(h)))
		}
	}
}

func sortedStrings[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func clone(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// TestGroupBaselineWorked follows one story: promote, a member differs,
// misses and adds facts, one host takes an exception, re-promote.
func TestGroupBaselineWorked(t *testing.T) {
	f := newFleet(t)
	base := map[string]string{"a": "1", "b": "1", "c": "1"}
	f.join("web-1", "web", merge(base, map[string]string{"/etc/hostname": "web-1"}))
	f.join("web-2", "web", merge(base, map[string]string{"/etc/hostname": "web-2", "b": "2", "x": "1"}))
	w3 := merge(base, map[string]string{"/etc/hostname": "web-3"})
	delete(w3, "c")
	f.join("web-3", "web", w3)
	f.join("db-1", "db", map[string]string{"a": "9"})
	f.check("before promotion")
	if got := f.open("web-2"); len(got) != 0 {
		t.Fatalf("own baselines: web-2 has drift %v", got)
	}

	gb := f.promote("web-1", "web")
	if gb.Generation != 1 || gb.FactCount != 3 || gb.SourceHost != "web-1" || gb.By != "alice" {
		t.Errorf("group baseline = %+v", gb)
	}
	f.check("after promotion")
	if d := cmp.Diff([]string{"b:web", "x:web"}, f.open("web-2")); d != "" {
		t.Errorf("web-2 (-want +got):\n%s", d)
	}
	var changes []string
	_ = f.st.View(context.Background(), func(tx store.ReadTx) error {
		return tx.DriftItems("", false, func(it *plumbv1.DriftItem) error {
			changes = append(changes, it.GetHostId()+" "+string(it.GetKey())+" "+it.GetChange().String())
			return nil
		})
	})
	slices.Sort(changes)
	want := []string{"web-2 b DRIFT_CHANGE_MODIFIED", "web-2 x DRIFT_CHANGE_ADDED", "web-3 c DRIFT_CHANGE_REMOVED"}
	if d := cmp.Diff(want, changes); d != "" {
		t.Errorf("items (-want +got):\n%s", d)
	}

	// Re-running the promotion's re-evaluation opens nothing new.
	if err := f.st.Update(context.Background(), func(tx store.Tx) error {
		evs, err := f.eng.Regroup(tx, "web-2", "web", gb.Generation, nil)
		if len(evs) != 0 {
			t.Errorf("second Regroup: %v", types(evs))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// A member returning to the group's value resolves; a change opens.
	f.set("web-2", "b", "1")
	f.set("web-3", "a", "5")
	f.check("after changes")

	// web-3 accepts its a=5: an exception; back to 1 is now drift from
	// its own expectation, not the group's.
	items := f.accept("web-3", "a")
	if items[0].GetBaselineGroup() != "web" {
		t.Errorf("accepted item group = %q", items[0].GetBaselineGroup())
	}
	_ = f.st.View(context.Background(), func(tx store.ReadTx) error {
		e, err := tx.GroupException("web", "web-3", fact.KeyOf(sysctl("a", "")))
		if err != nil || e.By != "bob" || e.Reason != "canary" {
			t.Errorf("exception = %+v, %v", e, err)
		}
		return nil
	})
	f.check("after accept")
	f.set("web-3", "a", "1")
	f.check("exception host back at the group value")
	if d := cmp.Diff([]string{"a:", "c:web"}, f.open("web-3")); d != "" {
		t.Errorf("web-3 (-want +got):\n%s", d)
	}

	// Re-promote from web-2 (which has x): x is now expected everywhere.
	f.promote("web-2", "web")
	f.check("after re-promotion")
	// A new member is held to the group from its first snapshot.
	f.join("web-4", "web", map[string]string{"a": "1", "/etc/hostname": "web-4"})
	f.check("new member")
}

func merge(a, b map[string]string) map[string]string {
	c := clone(a)
	for k, v := range b {
		c[k] = v
	}
	return c
}

// TestGroupBaselineRandom runs a seeded random workload of changes,
// accepts and promotions across two groups and checks every host's open
// drift against a model after each step.
func TestGroupBaselineRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PLUMB_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	f := newFleet(t)
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5"}
	hosts := []string{"a-1", "a-2", "a-3", "b-1", "b-2", "n-1"}
	val := func() string {
		if rng.IntN(5) == 0 {
			return ""
		}
		return fmt.Sprint(rng.IntN(3))
	}
	for _, h := range hosts {
		facts := map[string]string{"/etc/hostname": h}
		for _, k := range keys {
			if v := val(); v != "" {
				facts[k] = v
			}
		}
		group := map[byte]string{'a': "ga", 'b': "gb"}[h[0]]
		f.join(h, group, facts)
	}
	f.check("joined")
	for step := range 60 {
		h := hosts[rng.IntN(len(hosts))]
		op := rng.IntN(10)
		if testing.Verbose() {
			t.Logf("step %d host %s op %d", step, h, op)
		}
		switch {
		case op < 6:
			f.set(h, keys[rng.IntN(len(keys))], val())
		case op < 8:
			if open := f.open(h); len(open) > 0 {
				k := open[rng.IntN(len(open))]
				f.accept(h, k[:len(k)-len(k[slices.Index([]byte(k), ':'):])])
			}
		default:
			if g := f.group[h]; g != "" {
				f.promote(h, g)
			}
		}
		f.check(fmt.Sprintf("step %d (seed %d)", step, seed))
		if t.Failed() {
			return
		}
	}
}

// TestGroupBaselineSelection promotes only some facts: the rest stay held
// to each host's own baseline, and a second selection adds to the first.
func TestGroupBaselineSelection(t *testing.T) {
	f := newFleet(t)
	f.join("web-1", "web", map[string]string{"net.a": "1", "vm.b": "1"})
	f.join("web-2", "web", map[string]string{"net.a": "2", "vm.b": "2", "net.c": "1"})
	var gb *store.GroupBaseline
	promote := func(sel store.Selection) {
		t.Helper()
		err := f.st.Update(context.Background(), func(tx store.Tx) error {
			var err error
			if gb, err = f.eng.Promote(tx, "web-1", "web", sel, "alice", "net only"); err != nil {
				return err
			}
			for _, h := range []string{"web-1", "web-2"} {
				if _, err := f.eng.Regroup(tx, h, "web", gb.Generation, &sel); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	promote(store.Selection{Key: "net.*"})
	// net.a differs, net.c is extra; vm.b is not covered.
	if d := cmp.Diff([]string{"net.a:web", "net.c:web"}, f.open("web-2")); d != "" {
		t.Errorf("after net.* (-want +got):\n%s", d)
	}
	if gb.FactCount != 1 || len(gb.Selections) != 1 {
		t.Errorf("baseline = %+v", gb)
	}
	promote(store.Selection{Kind: int32(plumbv1.FactKind_FACT_KIND_SYSCTL), Key: "vm.*"})
	if d := cmp.Diff([]string{"net.a:web", "net.c:web", "vm.b:web"}, f.open("web-2")); d != "" {
		t.Errorf("after vm.* (-want +got):\n%s", d)
	}
	if gb.FactCount != 2 || len(gb.Selections) != 2 || gb.Generation != 2 {
		t.Errorf("baseline = %+v", gb)
	}
	// A host without its first snapshot cannot be promoted.
	f.group["web-9"] = "web"
	f.apply("web-9", upsert(sysctl("net.a", "1")))
	err := f.st.Update(context.Background(), func(tx store.Tx) error {
		_, err := f.eng.Promote(tx, "web-9", "web", store.Selection{}, "alice", "x")
		return err
	})
	if !errors.Is(err, ErrNoSnapshot) {
		t.Errorf("promote without a snapshot: %v, want ErrNoSnapshot", err)
	}
}
