package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// optionalTests: what a backend may offer beyond store.Store, found by
// type assertion. The interfaces are declared here, by what the suite
// uses, so that the suite holds any backend that has the methods. A
// backend without one skips its test, saying so.
var optionalTests = []test{
	{"PingAnswers", testPing},
	{"GroupNamesInByteOrder", testGroupNames},
	{"ImportKeepsSeqs", testImport},
	{"AdoptBaselineCopiesFacts", testAdoptBaseline},
}

// baselineAdopter is a Tx that replaces a host's baseline with a copy of
// its current facts (store.BaselineAdopter).
type baselineAdopter interface {
	AdoptBaseline(host string) (int, error)
}

// pinger is a Store that tells whether its database answers.
type pinger interface {
	Ping(ctx context.Context) error
}

// groupLister is a ReadTx that lists the groups with a golden baseline
// record, facts or exceptions, in name order.
type groupLister interface {
	GroupNames(fn func(group string) error) error
}

// importer is a Tx that takes the event and audit logs with their seqs
// already assigned (plumb-collector migrate).
type importer interface {
	ImportEvent(ev *plumbv1.DriftEvent) error
	ImportAudit(r *store.AuditRecord) error
	SetSequences(event, audit uint64) error
}

func testPing(t *testing.T, b Backend) {
	s := b.Open(t)
	p, ok := s.(pinger)
	if !ok {
		t.Skipf("%T has no Ping", s)
	}
	if err := p.Ping(t.Context()); err != nil {
		t.Errorf("Ping of an open store: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.Ping(ctx); err == nil {
		t.Error("Ping with a canceled context succeeded")
	}
}

func testGroupNames(t *testing.T, b Backend) {
	s := b.Open(t)
	k := fact.KeyOf(sysctl("a", "1"))
	update(t, s, func(tx store.Tx) error {
		for _, err := range []error{
			tx.PutGroupBaseline(&store.GroupBaseline{Group: "web"}),
			tx.PutGroupBaselineFact("B", sysctl("a", "1")),
			tx.PutGroupException(&store.GroupException{Group: "é", Host: "h", Key: k}),
			tx.PutGroupBaseline(&store.GroupBaseline{Group: "a"}),
			tx.PutGroupBaselineFact("a", sysctl("a", "1")),
			tx.PutGroupException(&store.GroupException{Group: "a", Host: "h", Key: k}),
			tx.PutGroupBaseline(&store.GroupBaseline{Group: "a b"}),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	})
	var got []string
	var kind string
	view(t, s, func(tx store.ReadTx) error {
		gl, ok := tx.(groupLister)
		if !ok {
			kind = fmt.Sprintf("%T", tx)
			return nil
		}
		got = nil
		return gl.GroupNames(func(g string) error { got = append(got, g); return nil })
	})
	if kind != "" {
		t.Skipf("%s has no GroupNames", kind)
	}
	if want := "[B a a b web é]"; fmt.Sprint(got) != want {
		t.Errorf("GroupNames = %q, want %s", got, want)
	}
}

func testImport(t *testing.T, b Backend) {
	s := b.Open(t)
	var imported []*plumbv1.DriftEvent
	var kind string
	update(t, s, func(tx store.Tx) error {
		im, ok := tx.(importer)
		if !ok {
			kind = fmt.Sprintf("%T", tx)
			return nil
		}
		imported = nil
		for _, seq := range []uint64{9, 5, 7} {
			ev := eventOf("h", int(seq))
			ev.Seq = seq
			if err := im.ImportEvent(ev); err != nil {
				return err
			}
			imported = append(imported, ev)
		}
		for _, seq := range []uint64{3, 4} {
			if err := im.ImportAudit(&store.AuditRecord{Seq: seq, At: int64(seq), Actor: "alice", Action: "policy.apply"}); err != nil {
				return err
			}
		}
		return im.SetSequences(20, 10)
	})
	if kind != "" {
		t.Skipf("%s has no ImportEvent", kind)
	}
	for name, fn := range map[string]func(importer) error{
		"event seq 0":     func(im importer) error { return im.ImportEvent(eventOf("h", 0)) },
		"event seq taken": func(im importer) error { ev := eventOf("h", 1); ev.Seq = 7; return im.ImportEvent(ev) },
		"audit seq 0":     func(im importer) error { return im.ImportAudit(&store.AuditRecord{Actor: "a", Action: "b"}) },
		"audit seq taken": func(im importer) error { return im.ImportAudit(&store.AuditRecord{Seq: 4, Actor: "a", Action: "b"}) },
	} {
		if err := s.Update(t.Context(), func(tx store.Tx) error { return fn(tx.(importer)) }); err == nil {
			t.Errorf("import of %s succeeded", name)
		}
	}
	var ev *plumbv1.DriftEvent
	var rec *store.AuditRecord
	update(t, s, func(tx store.Tx) error {
		ev, rec = eventOf("h", 100), &store.AuditRecord{At: 100, Actor: "bob", Action: "policy.apply"}
		if err := tx.AppendEvent(ev); err != nil {
			return err
		}
		if err := tx.(importer).SetSequences(1, 1); err != nil { // never lowers
			return err
		}
		return tx.AppendAudit(rec)
	})
	if ev.GetSeq() <= 20 || rec.Seq <= 10 {
		t.Errorf("appended after SetSequences(20, 10): event seq %d, audit seq %d", ev.GetSeq(), rec.Seq)
	}
	view(t, s, func(tx store.ReadTx) error {
		evs, err := tx.EventsAfter(0, 10)
		if err != nil {
			return err
		}
		want := []*plumbv1.DriftEvent{imported[1], imported[2], imported[0], ev}
		if d := cmp.Diff(want, evs, protocmp.Transform()); d != "" {
			t.Errorf("events after import and append (-want +got):\n%s", d)
		}
		recs, err := tx.AuditAfter(3, 10)
		if err != nil {
			return err
		}
		if len(recs) != 2 || recs[0].Seq != 4 || recs[1].Seq != rec.Seq {
			t.Errorf("audit after 3: %+v, want seqs 4 and %d", recs, rec.Seq)
		}
		if last, err := tx.LastEventSeq(); err != nil || last < ev.GetSeq() {
			t.Errorf("LastEventSeq = %d, %v; want at least %d", last, err, ev.GetSeq())
		}
		return nil
	})
}

func testAdoptBaseline(t *testing.T, b Backend) {
	s := b.Open(t)
	rng := seeded(t)
	facts := map[string]*plumbv1.Fact{}
	adopter := false
	update(t, s, func(tx store.Tx) error {
		_, adopter = tx.(baselineAdopter)
		for range 300 {
			f := sysctl(fmt.Sprintf("k%03d", rng.IntN(500)), fmt.Sprint(rng.Uint32()))
			facts[string(f.GetKey())] = f
			if err := tx.PutFact("h", f); err != nil {
				return err
			}
		}
		for range 100 { // same keys with other values, and keys with no fact
			if err := tx.PutBaseline("h", sysctl(fmt.Sprintf("k%03d", rng.IntN(700)), "old")); err != nil {
				return err
			}
		}
		for _, err := range []error{
			tx.PutFact("other", sysctl("x", "1")), tx.PutBaseline("other", sysctl("y", "2")),
			tx.PutBaseline("nofacts", sysctl("z", "3")),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	})
	if !adopter {
		t.Skip("the backend's Tx has no AdoptBaseline: the drift engine puts each baseline")
	}
	counts := map[string]int{}
	update(t, s, func(tx store.Tx) error {
		for _, h := range []string{"h", "other-unknown", "nofacts"} {
			n, err := tx.(baselineAdopter).AdoptBaseline(h)
			if err != nil {
				return err
			}
			counts[h] = n
		}
		return nil
	})
	if counts["h"] != len(facts) || counts["other-unknown"] != 0 || counts["nofacts"] != 0 {
		t.Errorf("AdoptBaseline counts %v, want h=%d and 0 for the others", counts, len(facts))
	}
	baselines := func(host string) map[string]*plumbv1.Fact {
		out := map[string]*plumbv1.Fact{}
		view(t, s, func(tx store.ReadTx) error {
			return tx.Baselines(host, func(f *plumbv1.Fact) error {
				out[string(f.GetKey())] = f
				return nil
			})
		})
		return out
	}
	if diff := cmp.Diff(facts, baselines("h"), protocmp.Transform()); diff != "" {
		t.Errorf("baselines of h after AdoptBaseline are not its facts (-facts +baselines):\n%s", diff)
	}
	if got := baselines("nofacts"); len(got) != 0 {
		t.Errorf("a host without facts kept baselines %v", got)
	}
	want := map[string]*plumbv1.Fact{"y": sysctl("y", "2")}
	if diff := cmp.Diff(want, baselines("other"), protocmp.Transform()); diff != "" {
		t.Errorf("another host's baselines changed (-want +got):\n%s", diff)
	}
}
