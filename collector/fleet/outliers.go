package fleet

import (
	"cmp"
	"slices"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// Need is how many of n hosts must agree on a key (hold the same digest,
// or all lack it) for their value to be a clear majority: at least two
// thirds of them, and at least two. With fewer than three hosts nothing
// is an outlier (Need(2) is 2: both must agree, so neither departs).
func Need(n int) int {
	return max(2, (2*n+2)/3)
}

// tally is what the comparison keeps per key: a presence count, the
// majority candidate among present digests (Boyer–Moore vote: a digest
// held by more than half of the present hosts is the candidate at the
// end of the pass), then the exact count of the candidate and the hosts
// that depart from the majority.
type tally struct {
	key     fact.Key
	present int
	cand    string
	votes   int

	absentMajority bool
	agree          int
	dead           bool    // more hosts depart than a clear majority allows
	deviants       []int32 // host indexes, in host order
	digests        []string
	kinds          []plumbv1.OutlierKind
}

// Outliers compares the current facts of hosts (ids, in any order) key by
// key and returns, in (host id, kind, key) order, each host whose value of
// a key departs from a clear majority (Need) of them: another digest
// (OUTLIER_KIND_DIFFERS), lacking a key the majority has (MISSING), or
// having one the majority lacks (EXTRA). kind limits the kinds compared
// (FACT_KIND_UNSPECIFIED: all but health); keep, if not nil, says which
// keys to compare.
//
// It reads every host's facts twice, streaming, in tx's snapshot: a
// first pass counts presence and finds each key's candidate digest, a
// second counts the candidate exactly and collects departing hosts.
// Memory is bounded by the distinct keys (a few dozen bytes each plus the
// key) and the outliers found (at most a third of the hosts per key).
func Outliers(tx store.ReadTx, hosts []string, kind plumbv1.FactKind, keep func(fact.Key) bool) ([]*plumbv1.Outlier, error) {
	hosts = slices.Clone(hosts)
	slices.Sort(hosts)
	n := len(hosts)
	need := Need(n)
	if n < 3 {
		return nil, nil
	}
	selected := func(f *plumbv1.Fact) (fact.Key, bool) {
		k := fact.KeyOf(f)
		if k.Kind == plumbv1.FactKind_FACT_KIND_HEALTH || (keep != nil && !keep(k)) {
			return k, false
		}
		return k, true
	}

	tallies := map[fact.Key]*tally{}
	for _, h := range hosts {
		err := tx.Facts(h, kind, func(f *plumbv1.Fact) error {
			k, ok := selected(f)
			if !ok {
				return nil
			}
			t := tallies[k]
			if t == nil {
				t = &tally{key: k}
				tallies[k] = t
			}
			t.present++
			d := f.GetDigest()
			switch {
			case t.votes == 0:
				t.cand, t.votes = string(d), 1
			case t.cand == string(d):
				t.votes++
			default:
				t.votes--
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}

	// Keep only keys on which a clear majority is still possible, in key
	// order, to merge with each host's facts.
	keys := make([]*tally, 0, len(tallies))
	for k, t := range tallies {
		switch {
		case n-t.present >= need:
			t.absentMajority = true
			t.agree = n - t.present
		case t.present >= need:
		default:
			delete(tallies, k)
			continue
		}
		keys = append(keys, t)
	}
	clear(tallies)
	slices.SortFunc(keys, func(a, b *tally) int { return compareKeys(a.key, b.key) })
	allowed := n - need // departing hosts a clear majority allows

	depart := func(t *tally, host int, how plumbv1.OutlierKind, digest []byte) {
		if t.dead {
			return
		}
		if len(t.deviants) == allowed {
			t.dead, t.deviants, t.digests, t.kinds = true, nil, nil, nil
			return
		}
		t.deviants = append(t.deviants, int32(host))
		t.digests = append(t.digests, string(digest))
		t.kinds = append(t.kinds, how)
	}
	for hi, h := range hosts {
		j := 0
		missing := func(upTo *fact.Key) {
			for ; j < len(keys) && (upTo == nil || compareKeys(keys[j].key, *upTo) < 0); j++ {
				if !keys[j].absentMajority {
					depart(keys[j], hi, plumbv1.OutlierKind_OUTLIER_KIND_MISSING, nil)
				}
			}
		}
		err := tx.Facts(h, kind, func(f *plumbv1.Fact) error {
			k, ok := selected(f)
			if !ok {
				return nil
			}
			missing(&k)
			if j == len(keys) || keys[j].key != k {
				return nil // no clear majority on this key
			}
			t := keys[j]
			j++
			switch {
			case t.absentMajority:
				depart(t, hi, plumbv1.OutlierKind_OUTLIER_KIND_EXTRA, f.GetDigest())
			case string(f.GetDigest()) == t.cand:
				t.agree++
			default:
				depart(t, hi, plumbv1.OutlierKind_OUTLIER_KIND_DIFFERS, f.GetDigest())
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		missing(nil)
	}

	var out []*plumbv1.Outlier
	for _, t := range keys {
		if t.dead || t.agree < need {
			continue
		}
		for i, hi := range t.deviants {
			o := &plumbv1.Outlier{
				HostId: hosts[hi], Kind: t.key.Kind, Key: []byte(t.key.ID), Outlier: t.kinds[i],
				Agree: uint32(t.agree), Hosts: uint32(n),
			}
			if t.kinds[i] != plumbv1.OutlierKind_OUTLIER_KIND_MISSING {
				o.Digest = []byte(t.digests[i])
			}
			if !t.absentMajority {
				o.MajorityDigest = []byte(t.cand)
			}
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b *plumbv1.Outlier) int {
		return cmp.Or(cmp.Compare(a.HostId, b.HostId),
			compareKeys(fact.Key{Kind: a.Kind, ID: string(a.Key)}, fact.Key{Kind: b.Kind, ID: string(b.Key)}))
	})
	return out, nil
}

// compareKeys orders keys as the store does (fact.Key.Encode): by kind,
// then by the bytes of the id.
func compareKeys(a, b fact.Key) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID))
}
