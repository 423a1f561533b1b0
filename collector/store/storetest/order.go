package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// orderTests: every listing is in byte order of its keys (never a locale's
// collation, which would put "a" before "B" or fold "é" near "e"), and the
// *After functions resume exactly after a position, present or not.
var orderTests = []test{
	{"HostsOrderAndPaging", testHostsOrder},
	{"FactsOrderAndPaging", testFactsOrder},
	{"DriftItemsAfterPaging", testDriftItemsAfter},
	{"NamedRecordsOrder", testNamedRecordsOrder},
	{"IterationStopsAtError", testIterationStops},
}

// names that byte order and a locale's collation put in different orders.
// Host ids and other names are UTF-8 (auth.ValidHostID limits host ids to
// ASCII; the store must not depend on that).
var names = []string{"B", "a", "é", "a b", "A", "ab", "a-b", "a.b", "_", "Z", "z", "e", "f", "a:1", "ä", "0", "9"}

// factKeys adds what a Linux path may hold and UTF-8 may not.
var factKeys = append(slices.Clone(names), "\xff", "\xfe\x01", "a\xff", "a\x01", "é\xff", "/etc/x", "/etc/x/y", "/etc/x-y")

// shuffled returns a seeded permutation of s.
func shuffled(rng *rand.Rand, s []string) []string {
	out := slices.Clone(s)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// sorted is s in byte order.
func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// probes are positions to resume after: every key, and keys between and
// around them that are not stored.
func probes(keys []string) []string {
	out := []string{"", "\x00", "\x01", "\xff\xff", "a\x00", "Y", "é\x01"}
	for _, k := range keys {
		out = append(out, k, k+"\x00", k+"\x01", k+"0")
	}
	return out
}

// after is want's elements greater than pos in byte order.
func after(want []string, pos string) []string {
	var out []string
	for _, w := range want {
		if w > pos {
			out = append(out, w)
		}
	}
	return out
}

func testHostsOrder(t *testing.T, b Backend) {
	rng := seeded(t)
	s := b.Open(t)
	update(t, s, func(tx store.Tx) error {
		for _, id := range shuffled(rng, names) {
			if err := tx.PutHost(&store.Host{ID: id, AppliedSeq: uint64(len(id))}); err != nil {
				return err
			}
		}
		return nil
	})
	want := sorted(names)
	list := func(fn func(store.ReadTx, func(*store.Host) error) error) []string {
		var out []string
		view(t, s, func(tx store.ReadTx) error {
			out = nil
			return fn(tx, func(h *store.Host) error { out = append(out, h.ID); return nil })
		})
		return out
	}
	if d := cmp.Diff(want, list(store.ReadTx.Hosts)); d != "" {
		t.Errorf("Hosts (-byte order +got):\n%s", d)
	}
	for _, pos := range probes(names) {
		if !validUTF8(pos) {
			continue
		}
		got := list(func(tx store.ReadTx, fn func(*store.Host) error) error { return tx.HostsAfter(pos, fn) })
		if d := cmp.Diff(after(want, pos), got); d != "" {
			t.Errorf("HostsAfter(%q) (-want +got):\n%s", pos, d)
		}
	}
	// Paging in pages of random size reads every host once, in order.
	var paged []string
	for pos, more := "", true; more; {
		n := 1 + rng.IntN(4)
		var page []string
		view(t, s, func(tx store.ReadTx) error {
			page = nil
			err := tx.HostsAfter(pos, func(h *store.Host) error {
				if len(page) == n {
					return errStop
				}
				page = append(page, h.ID)
				return nil
			})
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		})
		paged = append(paged, page...)
		if more = len(page) == n; more {
			pos = page[n-1]
		}
	}
	if d := cmp.Diff(want, paged); d != "" {
		t.Errorf("Hosts paged with HostsAfter (-want +got):\n%s", d)
	}
}

// validUTF8 leaves out positions a text column could not hold (not UTF-8,
// or NUL): names are text, so only fact keys are probed with any bytes.
func validUTF8(s string) bool { return utf8.ValidString(s) && !strings.Contains(s, "\x00") }

var errStop = errors.New("storetest: stop")

func testFactsOrder(t *testing.T, b Backend) {
	rng := seeded(t)
	s := b.Open(t)
	file, sys := plumbv1.FactKind_FACT_KIND_FILE, plumbv1.FactKind_FACT_KIND_SYSCTL
	all := plumbv1.FactKind_FACT_KIND_UNSPECIFIED
	update(t, s, func(tx store.Tx) error {
		for _, k := range shuffled(rng, factKeys) {
			for _, f := range []*plumbv1.Fact{fileFact(k, "x"), sysctl(k, "1")} {
				if err := tx.PutFact("h", f); err != nil {
					return err
				}
				if err := tx.PutBaseline("h", f); err != nil {
					return err
				}
				if err := tx.PutGroupBaselineFact("g", f); err != nil {
					return err
				}
			}
		}
		// Facts of hosts whose ids start with "h" stay apart.
		for _, h := range []string{"hh", "h ", "H"} {
			if err := tx.PutFact(h, fileFact("/other", "o")); err != nil {
				return err
			}
		}
		return nil
	})
	want := sorted(factKeys)
	// (kind, key) order: kinds by number, then key bytes.
	var wantAll []string
	for _, k := range want {
		wantAll = append(wantAll, fact.Key{Kind: file, ID: k}.String())
	}
	for _, k := range want {
		wantAll = append(wantAll, fact.Key{Kind: sys, ID: k}.String())
	}
	keysOf := func(fs []*plumbv1.Fact) []string {
		var out []string
		for _, f := range fs {
			out = append(out, fact.KeyOf(f).String())
		}
		return out
	}
	collect := func(fn func(store.ReadTx, func(*plumbv1.Fact) error) error) []string {
		var out []*plumbv1.Fact
		view(t, s, func(tx store.ReadTx) error {
			out = nil
			return fn(tx, func(f *plumbv1.Fact) error { out = append(out, f); return nil })
		})
		return keysOf(out)
	}
	for name, fn := range map[string]func(store.ReadTx, func(*plumbv1.Fact) error) error{
		"Facts(all)": func(tx store.ReadTx, fn func(*plumbv1.Fact) error) error { return tx.Facts("h", all, fn) },
		"FactsAfter(all, nil)": func(tx store.ReadTx, fn func(*plumbv1.Fact) error) error {
			return tx.FactsAfter("h", all, nil, fn)
		},
		"Baselines":          func(tx store.ReadTx, fn func(*plumbv1.Fact) error) error { return tx.Baselines("h", fn) },
		"GroupBaselineFacts": func(tx store.ReadTx, fn func(*plumbv1.Fact) error) error { return tx.GroupBaselineFacts("g", fn) },
	} {
		if d := cmp.Diff(wantAll, collect(fn)); d != "" {
			t.Errorf("%s (-(kind, key bytes) order +got):\n%s", name, d)
		}
	}
	wantSys := wantAll[len(want):]
	if d := cmp.Diff(wantSys, collect(func(tx store.ReadTx, fn func(*plumbv1.Fact) error) error { return tx.Facts("h", sys, fn) })); d != "" {
		t.Errorf("Facts(sysctl) (-want +got):\n%s", d)
	}
	for _, pos := range probes(factKeys) {
		for _, kind := range []plumbv1.FactKind{file, sys} {
			k := fact.Key{Kind: kind, ID: pos}
			for _, list := range []plumbv1.FactKind{all, file, sys} {
				got := collect(func(tx store.ReadTx, fn func(*plumbv1.Fact) error) error {
					return tx.FactsAfter("h", list, &k, fn)
				})
				var wantAfter []string
				for _, w := range wantAll {
					wk := keyByString(t, w, want)
					if string(wk.Encode()) > string(k.Encode()) && (list == all || wk.Kind == list) {
						wantAfter = append(wantAfter, w)
					}
				}
				if d := cmp.Diff(wantAfter, got); d != "" {
					t.Errorf("FactsAfter(%v, after %s) (-want +got):\n%s", list, k, d)
				}
			}
		}
	}
	// Paging in pages of random size reads every fact once, in order.
	var paged []string
	var pos *fact.Key
	for more := true; more; {
		n := 1 + rng.IntN(7)
		var page []*plumbv1.Fact
		view(t, s, func(tx store.ReadTx) error {
			page = nil
			err := tx.FactsAfter("h", all, pos, func(f *plumbv1.Fact) error {
				if len(page) == n {
					return errStop
				}
				page = append(page, f)
				return nil
			})
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		})
		paged = append(paged, keysOf(page)...)
		if more = len(page) == n; more {
			k := fact.KeyOf(page[n-1])
			pos = &k
		}
	}
	if d := cmp.Diff(wantAll, paged); d != "" {
		t.Errorf("Facts paged with FactsAfter (-want +got):\n%s", d)
	}
}

// keyByString finds the key whose String is s among the file and sysctl
// keys of ids.
func keyByString(t *testing.T, s string, ids []string) fact.Key {
	t.Helper()
	for _, id := range ids {
		for _, kind := range []plumbv1.FactKind{plumbv1.FactKind_FACT_KIND_FILE, plumbv1.FactKind_FACT_KIND_SYSCTL} {
			if k := (fact.Key{Kind: kind, ID: id}); k.String() == s {
				return k
			}
		}
	}
	t.Fatalf("no key %s", s)
	return fact.Key{}
}

func testDriftItemsAfter(t *testing.T, b Backend) {
	rng := seeded(t)
	s := b.Open(t)
	hosts := []string{"B", "a", "é", "a b"}
	keys := []string{"B", "a", "é", "\xff", "a\x01"}
	kinds := []plumbv1.FactKind{plumbv1.FactKind_FACT_KIND_FILE, plumbv1.FactKind_FACT_KIND_SYSCTL}
	type pos struct {
		host string
		key  fact.Key
	}
	var all []pos
	update(t, s, func(tx store.Tx) error {
		all = nil
		for _, h := range shuffled(rng, hosts) {
			if err := tx.PutHost(&store.Host{ID: h}); err != nil {
				return err
			}
			for _, k := range shuffled(rng, keys) {
				for _, kind := range kinds {
					if rng.IntN(4) == 0 {
						continue // gaps
					}
					it := &plumbv1.DriftItem{Id: fmt.Sprintf("%s|%x", h, k), HostId: h, Kind: kind, Key: []byte(k),
						Status: plumbv1.DriftStatus(1 + rng.IntN(3))}
					if err := tx.PutDrift(it); err != nil {
						return err
					}
					all = append(all, pos{h, fact.Key{Kind: kind, ID: k}})
				}
			}
		}
		return nil
	})
	slices.SortFunc(all, func(x, y pos) int {
		if x.host != y.host {
			return cmpStrings(x.host, y.host)
		}
		return cmpStrings(string(x.key.Encode()), string(y.key.Encode()))
	})
	less := func(x, y pos) bool {
		return x.host < y.host || x.host == y.host && string(x.key.Encode()) < string(y.key.Encode())
	}
	str := func(p pos) string { return p.host + "|" + p.key.String() }
	list := func(host string, kind plumbv1.FactKind, after *store.DriftPos) []string {
		var out []string
		view(t, s, func(tx store.ReadTx) error {
			out = nil
			return tx.DriftItemsAfter(host, kind, after, func(it *plumbv1.DriftItem) error {
				out = append(out, str(pos{it.GetHostId(), fact.Key{Kind: it.GetKind(), ID: string(it.GetKey())}}))
				return nil
			})
		})
		return out
	}
	var starts []*store.DriftPos
	starts = append(starts, nil, &store.DriftPos{Host: "", Key: fact.Key{}}, &store.DriftPos{Host: "a0", Key: fact.Key{Kind: 1, ID: "a"}})
	for _, p := range all {
		starts = append(starts, &store.DriftPos{Host: p.host, Key: p.key},
			&store.DriftPos{Host: p.host, Key: fact.Key{Kind: p.key.Kind, ID: p.key.ID + "\x00"}})
	}
	for _, h := range hosts {
		starts = append(starts, &store.DriftPos{Host: h, Key: fact.Key{Kind: plumbv1.FactKind_FACT_KIND_HEALTH}})
	}
	for _, host := range append([]string{""}, hosts...) {
		for _, kind := range append([]plumbv1.FactKind{plumbv1.FactKind_FACT_KIND_UNSPECIFIED}, kinds...) {
			for _, start := range starts {
				var want []string
				for _, p := range all {
					if (host == "" || p.host == host) && (kind == 0 || p.key.Kind == kind) &&
						(start == nil || less(pos{start.Host, start.Key}, p)) {
						want = append(want, str(p))
					}
				}
				got := list(host, kind, start)
				if d := cmp.Diff(want, got); d != "" {
					t.Fatalf("DriftItemsAfter(%q, %v, %+v) (-want +got):\n%s", host, kind, start, d)
				}
			}
		}
	}
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// testNamedRecordsOrder: silences, tokens, identities and cursors list in
// byte order of their names; APITokensAfter resumes after a name.
func testNamedRecordsOrder(t *testing.T, b Backend) {
	rng := seeded(t)
	s := b.Open(t)
	update(t, s, func(tx store.Tx) error {
		for i, n := range shuffled(rng, names) {
			for _, err := range []error{
				tx.PutSilence(&store.Silence{ID: n, Hosts: []string{"*"}}),
				tx.PutJoinToken(&store.JoinToken{ID: n}),
				tx.PutAPIToken(&store.APIToken{ID: n}),
				tx.PutIdentity(&store.Identity{HostID: n, KeyPin: "sha256:00"}),
				tx.SetCursor(n, uint64(i)),
			} {
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	want := sorted(names)
	var sil, jt, at, ids, cur []string
	view(t, s, func(tx store.ReadTx) error {
		sil, jt, at, ids, cur = nil, nil, nil, nil, nil
		for _, err := range []error{
			tx.Silences(func(v *store.Silence) error { sil = append(sil, v.ID); return nil }),
			tx.JoinTokens(func(v *store.JoinToken) error { jt = append(jt, v.ID); return nil }),
			tx.APITokens(func(v *store.APIToken) error { at = append(at, v.ID); return nil }),
			tx.Identities(func(v *store.Identity) error { ids = append(ids, v.HostID); return nil }),
			tx.Cursors(func(n string, _ uint64) error { cur = append(cur, n); return nil }),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	})
	for name, got := range map[string][]string{"Silences": sil, "JoinTokens": jt, "APITokens": at, "Identities": ids, "Cursors": cur} {
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-byte order +got):\n%s", name, d)
		}
	}
	for _, pos := range probes(names) {
		if !validUTF8(pos) {
			continue
		}
		var got []string
		view(t, s, func(tx store.ReadTx) error {
			got = nil
			return tx.APITokensAfter(pos, func(v *store.APIToken) error { got = append(got, v.ID); return nil })
		})
		if d := cmp.Diff(after(want, pos), got); d != "" {
			t.Errorf("APITokensAfter(%q) (-want +got):\n%s", pos, d)
		}
	}
}

// testIterationStops: an error from an iterating method's callback stops
// the iteration and comes back from the method.
func testIterationStops(t *testing.T, b Backend) {
	s := b.Open(t)
	update(t, s, func(tx store.Tx) error {
		for _, n := range []string{"a", "b", "c"} {
			for _, err := range []error{
				tx.PutHost(&store.Host{ID: n}),
				tx.PutFact("h", sysctl(n, "1")),
				tx.PutBaseline("h", sysctl(n, "1")),
				tx.PutDrift(driftItem("h", n, plumbv1.DriftStatus_DRIFT_STATUS_OPEN)),
				tx.PutSilence(&store.Silence{ID: n}),
				tx.PutJoinToken(&store.JoinToken{ID: n}),
				tx.PutAPIToken(&store.APIToken{ID: n}),
				tx.PutIdentity(&store.Identity{HostID: n}),
				tx.SetCursor(n, 1),
				tx.PutGroupBaselineFact("g", sysctl(n, "1")),
				tx.PutGroupException(&store.GroupException{Group: "g", Host: n, Key: fact.KeyOf(sysctl(n, "1"))}),
				tx.PutFactChange("h", 1, fact.KeyOf(sysctl(n, "1")), nil),
				tx.PutPolicy(&store.Policy{Version: uint64(len(n) + int(n[0]))}),
			} {
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	calls := 0
	stop := func() error { calls++; return errStop }
	for name, fn := range map[string]func(store.ReadTx) error{
		"Hosts":      func(tx store.ReadTx) error { return tx.Hosts(func(*store.Host) error { return stop() }) },
		"HostsAfter": func(tx store.ReadTx) error { return tx.HostsAfter("", func(*store.Host) error { return stop() }) },
		"Facts":      func(tx store.ReadTx) error { return tx.Facts("h", 0, func(*plumbv1.Fact) error { return stop() }) },
		"FactsAfter": func(tx store.ReadTx) error {
			return tx.FactsAfter("h", 0, nil, func(*plumbv1.Fact) error { return stop() })
		},
		"FactsInBucket": func(tx store.ReadTx) error {
			// The first bucket holding one of h's facts must stop there.
			for b := range uint32(fact.BucketCount) {
				if err := tx.FactsInBucket("h", b, func(*plumbv1.Fact) error { return stop() }); err != nil {
					return err
				}
			}
			return nil
		},
		"Baselines": func(tx store.ReadTx) error { return tx.Baselines("h", func(*plumbv1.Fact) error { return stop() }) },
		"DriftItems": func(tx store.ReadTx) error {
			return tx.DriftItems("", true, func(*plumbv1.DriftItem) error { return stop() })
		},
		"DriftItemsAfter": func(tx store.ReadTx) error {
			return tx.DriftItemsAfter("", 0, nil, func(*plumbv1.DriftItem) error { return stop() })
		},
		"Cursors":    func(tx store.ReadTx) error { return tx.Cursors(func(string, uint64) error { return stop() }) },
		"JoinTokens": func(tx store.ReadTx) error { return tx.JoinTokens(func(*store.JoinToken) error { return stop() }) },
		"APITokens":  func(tx store.ReadTx) error { return tx.APITokens(func(*store.APIToken) error { return stop() }) },
		"APITokensAfter": func(tx store.ReadTx) error {
			return tx.APITokensAfter("", func(*store.APIToken) error { return stop() })
		},
		"Identities": func(tx store.ReadTx) error { return tx.Identities(func(*store.Identity) error { return stop() }) },
		"Silences":   func(tx store.ReadTx) error { return tx.Silences(func(*store.Silence) error { return stop() }) },
		"GroupBaselineFacts": func(tx store.ReadTx) error {
			return tx.GroupBaselineFacts("g", func(*plumbv1.Fact) error { return stop() })
		},
		"GroupExceptions": func(tx store.ReadTx) error {
			return tx.GroupExceptions("g", func(*store.GroupException) error { return stop() })
		},
		"FactChanges": func(tx store.ReadTx) error {
			return tx.FactChanges("h", 0, func(*store.FactChange) error { return stop() })
		},
		"PoliciesBefore": func(tx store.ReadTx) error { return tx.PoliciesBefore(0, func(*store.Policy) error { return stop() }) },
	} {
		calls = 0
		err := s.View(t.Context(), fn)
		if !errors.Is(err, errStop) {
			t.Errorf("%s: error %v, want the callback's", name, err)
		}
		if calls != 1 {
			t.Errorf("%s called its callback %d times after it returned an error", name, calls)
		}
	}
}
