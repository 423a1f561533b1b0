package query

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// TestListFactsAtPaging changes a host's facts at controlled times (some
// keys modified, deleted, added), keeps a replay of its state after each
// instant, and pages ListFacts at random past instants, with random kind
// filters and page sizes: every page set equals the replay, in key order,
// each fact once.
func TestListFactsAtPaging(t *testing.T) {
	r := newRig(t)
	rng := seeded(t)
	ctx := ctxT(t)
	now := t0
	r.eng.Now = func() time.Time { return now }
	type val struct {
		kind plumbv1.FactKind
		v    string
	}
	state := map[string]val{}
	mk := func(name string, v val) *plumbv1.Fact {
		if v.kind == plumbv1.FactKind_FACT_KIND_KMOD {
			return kmod(name, int64(len(v.v)))
		}
		return sysctl(name, v.v)
	}
	kindOf := func(i int) plumbv1.FactKind {
		if i%2 == 0 {
			return plumbv1.FactKind_FACT_KIND_KMOD
		}
		return plumbv1.FactKind_FACT_KIND_SYSCTL
	}
	var ds []*plumbv1.Delta
	for i := range 300 {
		name := fmt.Sprintf("k%04d", i)
		state[name] = val{kindOf(i), "v"}
		ds = append(ds, upsert(mk(name, state[name])))
	}
	r.apply("web-1", append(ds, checkpoint())...)
	snap := func() map[string]val {
		c := map[string]val{}
		for k, v := range state {
			c[k] = v
		}
		return c
	}
	times, replay := []time.Time{now}, []map[string]val{snap()}
	for step := 1; step <= 40; step++ {
		now = t0.Add(time.Duration(step) * time.Second)
		var ds []*plumbv1.Delta
		for range 1 + rng.IntN(20) {
			i := rng.IntN(400)
			name := fmt.Sprintf("k%04d", i)
			if _, ok := state[name]; ok && rng.IntN(3) == 0 {
				delete(state, name)
				ds = append(ds, &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_DELETE, Fact: &plumbv1.Fact{Kind: kindOf(i), Key: []byte(name)}})
				continue
			}
			v := val{kindOf(i), strings.Repeat("v", 1+rng.IntN(5))}
			state[name] = v
			ds = append(ds, upsert(mk(name, v)))
		}
		r.apply("web-1", ds...)
		times, replay = append(times, now), append(replay, snap())
	}
	for range 40 {
		i := rng.IntN(len(times))
		req := &plumbv1.ListFactsRequest{HostId: "web-1", AtUnixNano: times[i].UnixNano()}
		if rng.IntN(2) == 0 {
			req.Kind = kindOf(rng.IntN(2))
		}
		var want []fact.Key
		for k, v := range replay[i] {
			if req.Kind == 0 || v.kind == req.Kind {
				want = append(want, fact.Key{Kind: v.kind, ID: k})
			}
		}
		slices.SortFunc(want, func(a, b fact.Key) int { return strings.Compare(string(a.Encode()), string(b.Encode())) })
		got := pageAll(t, rng, []int{3, 50, 1000}[rng.IntN(3)], func(size uint32, token string) ([]*plumbv1.Fact, string, error) {
			req.PageSize, req.PageToken = size, token
			resp, err := r.client.ListFacts(ctx, req)
			return resp.GetFacts(), resp.GetNextPageToken(), err
		})
		if len(got) != len(want) {
			t.Fatalf("ListFacts at instant %d kind %v: %d facts, replay %d", i, req.Kind, len(got), len(want))
		}
		for j, f := range got {
			k := fact.KeyOf(f)
			if k != want[j] {
				t.Fatalf("ListFacts at instant %d: fact %d is %v, replay %v", i, j, k, want[j])
			}
			w := replay[i][k.ID]
			if !proto2equal(f, mk(k.ID, w)) {
				t.Fatalf("ListFacts at instant %d: %v has digest %x, replay's value %q", i, k, f.GetDigest(), w.v)
			}
		}
	}
}

func proto2equal(a, b *plumbv1.Fact) bool { return string(a.GetDigest()) == string(b.GetDigest()) }

// TestListHistoryPaging: drift events of two hosts and audit records
// interleaved in time come back merged in time order, per host or for the
// fleet, within a time range, each once, whatever the page sizes.
func TestListHistoryPaging(t *testing.T) {
	r := newRig(t)
	rng := seeded(t)
	ctx := ctxT(t)
	now := t0
	r.eng.Now = func() time.Time { return now }
	r.apply("web-1", upsert(sysctl("a", "0")), checkpoint())
	r.apply("db-1", upsert(sysctl("a", "0")), checkpoint())
	type entry struct {
		host, action string
		at           int64
	}
	var all []entry
	for step := 1; step <= 120; step++ {
		now = t0.Add(time.Duration(step) * time.Second)
		host := []string{"web-1", "db-1"}[rng.IntN(2)]
		if rng.IntN(3) == 0 {
			err := r.st.Update(ctx, func(tx store.Tx) error {
				return store.Audit(tx, now, "alice", "silence.create", host, "s", "why")
			})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, entry{host, "silence.create", now.UnixNano()})
			continue
		}
		// Alternate the fact away from its baseline and back.
		v := "0"
		if step%2 == 1 {
			v = "1"
		}
		r.apply(host, upsert(sysctl("a", v)))
		var evs []*plumbv1.DriftEvent
		_ = r.st.View(ctx, func(tx store.ReadTx) error {
			var err error
			last, _ := tx.LastEventSeq()
			evs, err = tx.EventsAfter(max(last, 1)-1, 1)
			return err
		})
		for _, ev := range evs {
			if ev.GetAtUnixNano() == now.UnixNano() {
				all = append(all, entry{host, "drift." + strings.ToLower(strings.TrimPrefix(ev.GetType().String(), "DRIFT_EVENT_TYPE_")), now.UnixNano()})
			}
		}
	}
	for range 20 {
		req := &plumbv1.ListHistoryRequest{}
		if rng.IntN(2) == 0 {
			req.HostId = []string{"web-1", "db-1"}[rng.IntN(2)]
		}
		if rng.IntN(2) == 0 {
			req.SinceUnixNano = t0.Add(time.Duration(rng.IntN(120)) * time.Second).UnixNano()
			req.UntilUnixNano = req.SinceUnixNano + int64(rng.IntN(60))*int64(time.Second)
		}
		var want []entry
		for _, e := range all {
			if (req.HostId == "" || e.host == req.HostId) && e.at >= req.SinceUnixNano && (req.UntilUnixNano == 0 || e.at < req.UntilUnixNano) {
				want = append(want, e)
			}
		}
		got := pageAll(t, rng, 7, func(size uint32, token string) ([]entry, string, error) {
			req.PageSize, req.PageToken = size, token
			resp, err := r.client.ListHistory(ctx, req)
			var out []entry
			for _, e := range resp.GetEntries() {
				if e.GetAction() == "silence.create" && e.GetActor() != "alice" || e.GetAction() != "silence.create" && e.GetActor() != "agent" {
					t.Errorf("entry %v: actor %q", e.GetAction(), e.GetActor())
				}
				out = append(out, entry{e.GetHostId(), e.GetAction(), e.GetAtUnixNano()})
			}
			return out, resp.GetNextPageToken(), err
		})
		if !slices.Equal(got, want) {
			t.Fatalf("ListHistory(%v): %d entries, want %d\ngot  %v\nwant %v", req, len(got), len(want), got, want)
		}
	}
	_, err := r.client.ListHistory(ctx, &plumbv1.ListHistoryRequest{SinceUnixNano: 10, UntilUnixNano: 5})
	wantCode(t, err, codes.InvalidArgument, "since")
	_, err = r.client.ListHistory(context.Background(), &plumbv1.ListHistoryRequest{HostId: "nope"})
	wantCode(t, err, codes.NotFound, "nope")
}
