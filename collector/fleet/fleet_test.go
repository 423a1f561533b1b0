package fleet_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/fleet"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// world is a generated fleet: host → key → digest.
type world map[string]map[fact.Key]string

func openStore(t testing.TB) *store.Bolt {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "plumb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func fileFact(k fact.Key, digest string) *plumbv1.Fact {
	return &plumbv1.Fact{Kind: k.Kind, Key: []byte(k.ID), Digest: []byte(digest),
		Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{Type: plumbv1.FileType_FILE_TYPE_REGULAR, Mode: 0o644, Sha256: []byte(digest)}}}
}

func (w world) write(t testing.TB, st store.Store) {
	t.Helper()
	err := st.Update(context.Background(), func(tx store.Tx) error {
		for h, facts := range w {
			if err := tx.PutHost(&store.Host{ID: h, Labels: map[string]string{"group": "web"}}); err != nil {
				return err
			}
			for k, d := range facts {
				if err := tx.PutFact(h, fileFact(k, d)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// randomWorld draws a fleet in which most keys have a common value, some
// hosts differ or lack keys, and some keys are rare.
func randomWorld(r *rand.Rand) world {
	n := 1 + r.IntN(12)
	nkeys := 1 + r.IntN(25)
	w := world{}
	for h := range n {
		facts := map[fact.Key]string{}
		for i := range nkeys {
			k := fact.Key{Kind: plumbv1.FactKind(1 + i%3), ID: fmt.Sprintf("/etc/k%02d", i)}
			if r.IntN(10) < i%4 { // rarer presence for some keys
				continue
			}
			d := "common"
			if r.IntN(6) == 0 {
				d = fmt.Sprintf("v%d", r.IntN(3))
			}
			facts[k] = fmt.Sprintf("%s-%d", d, i)
		}
		w[fmt.Sprintf("host-%02d", h)] = facts
	}
	return w
}

// oracle computes the outliers of w the plain way: every value (digest
// or absence) counted exactly, per key.
func oracle(w world) []string {
	hosts := make([]string, 0, len(w))
	keys := map[fact.Key]bool{}
	for h, facts := range w {
		hosts = append(hosts, h)
		for k := range facts {
			keys[k] = true
		}
	}
	n := len(hosts)
	need := max(2, (2*n+2)/3)
	var out []string
	if n < 3 {
		return nil
	}
	for k := range keys {
		count := map[string]int{}
		for _, h := range hosts {
			d, ok := w[h][k]
			if !ok {
				d = "<absent>"
			}
			count[d]++
		}
		for v, c := range count {
			if c < need {
				continue
			}
			for _, h := range hosts {
				d, ok := w[h][k]
				if !ok {
					d = "<absent>"
				}
				if d != v {
					out = append(out, fmt.Sprintf("%s %v %s %d/%d", h, k, d, c, n))
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestOutliersMatchOracle(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	total := 0
	defer func() {
		if total == 0 {
			t.Errorf("seed %d: no round had an outlier; the workload tests nothing", seed)
		}
	}()
	for round := range 40 {
		w := randomWorld(r)
		st := openStore(t)
		w.write(t, st)
		var hosts []string
		for h := range w {
			hosts = append(hosts, h)
		}
		var got []string
		err := st.View(context.Background(), func(tx store.ReadTx) error {
			out, err := fleet.Outliers(tx, hosts, plumbv1.FactKind_FACT_KIND_UNSPECIFIED, nil)
			for _, o := range out {
				d := string(o.GetDigest())
				if o.GetOutlier() == plumbv1.OutlierKind_OUTLIER_KIND_MISSING {
					d = "<absent>"
				}
				k := fact.Key{Kind: o.GetKind(), ID: string(o.GetKey())}
				got = append(got, fmt.Sprintf("%s %v %s %d/%d", o.GetHostId(), k, d, o.GetAgree(), o.GetHosts()))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		total += len(got)
		if want := oracle(w); !slices.Equal(got, want) {
			t.Fatalf("seed %d round %d:\n got %q\nwant %q", seed, round, got, want)
		}
	}
}

func TestOutliersKindsAndExclusion(t *testing.T) {
	k := func(id string) fact.Key { return fact.Key{Kind: plumbv1.FactKind_FACT_KIND_FILE, ID: id} }
	w := world{}
	for i := range 10 {
		w[fmt.Sprintf("web-%d", i)] = map[fact.Key]string{
			k("/etc/nginx/nginx.conf"): "good",
			k("/etc/hostname"):         fmt.Sprintf("h%d", i),
		}
	}
	w["web-7"][k("/etc/nginx/nginx.conf")] = "bad"
	delete(w["web-3"], k("/etc/nginx/nginx.conf"))
	w["web-5"][k("/etc/extra")] = "x"
	st := openStore(t)
	w.write(t, st)
	hosts := slices.Collect(func(yield func(string) bool) {
		for h := range w {
			if !yield(h) {
				return
			}
		}
	})
	var out []*plumbv1.Outlier
	err := st.View(context.Background(), func(tx store.ReadTx) (err error) {
		out, err = fleet.Outliers(tx, hosts, 0, func(k fact.Key) bool { return !fleet.Exclusion(fleet.DefaultExclude).Excludes(k) })
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []*plumbv1.Outlier{
		{HostId: "web-3", Kind: 1, Key: []byte("/etc/nginx/nginx.conf"), Outlier: plumbv1.OutlierKind_OUTLIER_KIND_MISSING, MajorityDigest: []byte("good"), Agree: 8, Hosts: 10},
		{HostId: "web-5", Kind: 1, Key: []byte("/etc/extra"), Outlier: plumbv1.OutlierKind_OUTLIER_KIND_EXTRA, Digest: []byte("x"), Agree: 9, Hosts: 10},
		{HostId: "web-7", Kind: 1, Key: []byte("/etc/nginx/nginx.conf"), Outlier: plumbv1.OutlierKind_OUTLIER_KIND_DIFFERS, Digest: []byte("bad"), MajorityDigest: []byte("good"), Agree: 8, Hosts: 10},
	}
	if len(out) != len(want) {
		t.Fatalf("got %v", out)
	}
	for i := range want {
		if !proto.Equal(out[i], want[i]) {
			t.Errorf("outlier %d: got %v, want %v", i, out[i], want[i])
		}
	}
}

func TestDiffMatchesOracle(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	for round := range 20 {
		w := world{"a": {}, "b": {}}
		n := r.IntN(1500) // past a cursor chunk
		for i := range n {
			k := fact.Key{Kind: plumbv1.FactKind(1 + r.IntN(2)), ID: fmt.Sprintf("/k/%05d", i)}
			switch r.IntN(5) {
			case 0:
				w["a"][k] = "x"
			case 1:
				w["b"][k] = "y"
			case 2:
				w["a"][k], w["b"][k] = "x", "y"
			default:
				w["a"][k], w["b"][k] = "same", "same"
			}
		}
		var want []string
		for _, h := range []string{"a", "b"} {
			for k, d := range w[h] {
				o, ok := w[map[string]string{"a": "b", "b": "a"}[h]][k]
				if !ok || (o != d && h == "a") {
					want = append(want, fmt.Sprintf("%v a=%s b=%s", k, w["a"][k], w["b"][k]))
				}
			}
		}
		slices.Sort(want)
		st := openStore(t)
		w.write(t, st)
		var got []string
		var prev []byte
		err := st.View(context.Background(), func(tx store.ReadTx) error {
			return fleet.Diff(tx, "a", "b", 0, nil, func(k fact.Key, d *plumbv1.FactDifference) error {
				if prev != nil && bytes.Compare(prev, k.Encode()) >= 0 {
					t.Fatalf("seed %d: keys out of order at %v", seed, k)
				}
				prev = k.Encode()
				if d != nil {
					got = append(got, fmt.Sprintf("%v a=%s b=%s", k, d.GetA().GetDigest(), d.GetB().GetDigest()))
					if d.GetA() != nil && d.GetB() != nil && !slices.Equal(d.GetAttributes(), []string{"sha256"}) {
						t.Errorf("%v: attributes %q, want [sha256]", k, d.GetAttributes())
					}
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d round %d: got %d differences, want %d\n%q\n%q", seed, round, len(got), len(want), got, want)
		}
	}
}
