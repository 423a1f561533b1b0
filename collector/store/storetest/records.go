package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// recordTests: what is written reads back equal, field for field.
var recordTests = []test{
	{"HostRoundTrip", testHostRoundTrip},
	{"FactsRoundTrip", testFactsRoundTrip},
	{"BaselinesRoundTrip", testBaselinesRoundTrip},
	{"DriftRoundTrip", testDriftRoundTrip},
	{"FactsInBucket", testFactsInBucket},
	{"OpenDriftCounts", testOpenDriftCounts},
	{"Policies", testPolicies},
	{"SilenceRoundTrip", testSilenceRoundTrip},
	{"GroupBaselineRoundTrip", testGroupBaselineRoundTrip},
	{"CredentialsRoundTrip", testCredentialsRoundTrip},
	{"FactHistory", testFactHistory},
	{"AuditLog", testAuditLog},
	{"LargeUpdate", testLargeUpdate},
}

func testHostRoundTrip(t *testing.T, b Backend) {
	s := b.Open(t)
	want := &store.Host{
		ID:            "db-1",
		Info:          &plumbv1.HostInfo{Hostname: "db-1", Os: "linux", KernelVersion: "6.1.0"},
		Labels:        map[string]string{"role": "db", "env": "prod"},
		AppliedSeq:    42,
		Resyncs:       7,
		HealthChanges: 3,
		FactCount:     2,
		HasBaseline:   true,
		OpenDrift:     1,
		LastSeen:      1700000000123456789,
		Coverage: []*plumbv1.CoverageCondition{{
			Source: "file", State: plumbv1.CoverageState_COVERAGE_STATE_BLIND,
			Reason: "unreadable", Detail: "/root/ünïcode", SinceUnixNano: 5,
		}},
	}
	want.Digest.Add(fact.KeyOf(sysctl("a", "1")), sysctl("a", "1").GetDigest())
	want.Digest.Add(fact.KeyOf(fileFact("/etc/\xffbad", "x")), []byte("d"))
	other := &store.Host{ID: "app-1", AppliedSeq: ^uint64(0), LastSeen: -1}
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutHost(want); err != nil {
			return err
		}
		return tx.PutHost(other)
	})
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.Host("db-1")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want, got, protocmp.Transform(), cmp.AllowUnexported(fact.SetDigest{})); diff != "" {
			t.Errorf("Host round trip (-want +got):\n%s", diff)
		}
		got, err = tx.Host("app-1")
		if err != nil {
			return err
		}
		// Extremes survive: a uint64 above int64's range, a negative time.
		if got.AppliedSeq != ^uint64(0) || got.LastSeen != -1 || got.Info != nil || len(got.Labels) != 0 {
			t.Errorf("Host(app-1) = %+v, want AppliedSeq max, LastSeen -1, no info or labels", got)
		}
		var ids []string
		if err := tx.Hosts(func(h *store.Host) error { ids = append(ids, h.ID); return nil }); err != nil {
			return err
		}
		if diff := cmp.Diff([]string{"app-1", "db-1"}, ids); diff != "" {
			t.Errorf("Hosts order (-want +got):\n%s", diff)
		}
		return nil
	})
	// A second PutHost replaces the record.
	update(t, s, func(tx store.Tx) error { return tx.PutHost(&store.Host{ID: "db-1", AppliedSeq: 43}) })
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.Host("db-1")
		if err != nil {
			return err
		}
		if got.AppliedSeq != 43 || got.HasBaseline || got.Info != nil {
			t.Errorf("Host after a second PutHost = %+v, want the second record alone", got)
		}
		var empty fact.SetDigest
		if string(got.Digest.Sum()) != string(empty.Sum()) {
			t.Errorf("Host after a second PutHost kept the first record's digest")
		}
		return nil
	})
	if err := s.Update(t.Context(), func(tx store.Tx) error { return tx.PutHost(&store.Host{}) }); err == nil {
		t.Error("PutHost with an empty id succeeded")
	}
}

func testFactsRoundTrip(t *testing.T, b Backend) {
	s := b.Open(t)
	facts := []*plumbv1.Fact{
		fileFact("/etc/b", "2"),
		fileFact("/etc/a", "1"),
		fileFact("/etc/\xff\xfe", "raw"),
		sysctl("net.ipv4.ip_forward", "0"),
		sysctl("kernel.panic", "10"),
	}
	update(t, s, func(tx store.Tx) error {
		for _, f := range facts {
			if err := tx.PutFact("h", f); err != nil {
				return err
			}
		}
		// Another host's facts must not leak into h's.
		return tx.PutFact("h2", fileFact("/etc/other", "o"))
	})
	keys := func(kind plumbv1.FactKind) []string {
		var out []string
		view(t, s, func(tx store.ReadTx) error {
			out = nil
			return tx.Facts("h", kind, func(f *plumbv1.Fact) error {
				out = append(out, string(f.GetKey()))
				return nil
			})
		})
		return out
	}
	if diff := cmp.Diff([]string{"/etc/a", "/etc/b", "/etc/\xff\xfe"}, keys(plumbv1.FactKind_FACT_KIND_FILE)); diff != "" {
		t.Errorf("file facts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"kernel.panic", "net.ipv4.ip_forward"}, keys(plumbv1.FactKind_FACT_KIND_SYSCTL)); diff != "" {
		t.Errorf("sysctl facts (-want +got):\n%s", diff)
	}
	if got := keys(plumbv1.FactKind_FACT_KIND_UNSPECIFIED); len(got) != 5 {
		t.Errorf("all facts: %q, want 5", got)
	}
	if got := keys(plumbv1.FactKind_FACT_KIND_KMOD); len(got) != 0 {
		t.Errorf("kmod facts: %q, want none", got)
	}

	update(t, s, func(tx store.Tx) error {
		got, err := tx.Fact("h", fact.KeyOf(facts[2]))
		if err != nil {
			return err
		}
		if !proto.Equal(got, facts[2]) {
			t.Errorf("Fact = %v, want %v", got, facts[2])
		}
		// A put replaces the value.
		if err := tx.PutFact("h", fileFact("/etc/a", "changed")); err != nil {
			return err
		}
		if got, err := tx.Fact("h", fact.KeyOf(facts[1])); err != nil || !proto.Equal(got, fileFact("/etc/a", "changed")) {
			t.Errorf("Fact after a second put = %v, %v; want the new value", got, err)
		}
		if err := tx.DeleteFact("h", fact.KeyOf(facts[2])); err != nil {
			return err
		}
		if _, err := tx.Fact("h", fact.KeyOf(facts[2])); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Fact after delete = %v, want ErrNotFound", err)
		}
		// Deleting what is not there, or from an unknown host, is a no-op.
		if err := tx.DeleteFact("h", fact.KeyOf(facts[2])); err != nil {
			return err
		}
		return tx.DeleteFact("ghost", fact.KeyOf(facts[2]))
	})
	if got := keys(plumbv1.FactKind_FACT_KIND_FILE); len(got) != 2 {
		t.Errorf("file facts after delete: %q", got)
	}
	// A host that only has facts (no PutHost yet) is not listed.
	view(t, s, func(tx store.ReadTx) error {
		return tx.Hosts(func(h *store.Host) error {
			t.Errorf("Hosts listed %q, which has no record", h.ID)
			return nil
		})
	})
	// A fact of no kind is refused.
	err := s.Update(t.Context(), func(tx store.Tx) error {
		return tx.PutFact("h", &plumbv1.Fact{Key: []byte("x")})
	})
	if err == nil {
		t.Error("PutFact of kind FACT_KIND_UNSPECIFIED succeeded")
	}
}

func testBaselinesRoundTrip(t *testing.T, b Backend) {
	s := b.Open(t)
	a, c := sysctl("b", "2"), sysctl("a", "1")
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutBaseline("h", a); err != nil {
			return err
		}
		return tx.PutBaseline("h", c)
	})
	update(t, s, func(tx store.Tx) error {
		got, err := tx.Baseline("h", fact.KeyOf(a))
		if err != nil {
			return err
		}
		if !proto.Equal(got, a) {
			t.Errorf("Baseline = %v, want %v", got, a)
		}
		if _, err := tx.Fact("h", fact.KeyOf(a)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a baseline leaked into facts: %v", err)
		}
		var keys []string
		if err := tx.Baselines("h", func(f *plumbv1.Fact) error { keys = append(keys, string(f.GetKey())); return nil }); err != nil {
			return err
		}
		if diff := cmp.Diff([]string{"a", "b"}, keys); diff != "" {
			t.Errorf("Baselines (-want +got):\n%s", diff)
		}
		if err := tx.DeleteBaseline("h", fact.KeyOf(a)); err != nil {
			return err
		}
		if _, err := tx.Baseline("h", fact.KeyOf(a)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Baseline after delete = %v, want ErrNotFound", err)
		}
		if err := tx.DeleteBaseline("h", fact.KeyOf(a)); err != nil {
			return fmt.Errorf("deleting a missing baseline: %w", err)
		}
		return tx.DeleteBaseline("ghost", fact.KeyOf(a))
	})
}

func testDriftRoundTrip(t *testing.T, b Backend) {
	s := b.Open(t)
	items := []*plumbv1.DriftItem{
		driftItem("h1", "a", plumbv1.DriftStatus_DRIFT_STATUS_OPEN),
		driftItem("h1", "b", plumbv1.DriftStatus_DRIFT_STATUS_RESOLVED),
		driftItem("h2", "a", plumbv1.DriftStatus_DRIFT_STATUS_OPEN),
		driftItem("h2", "c", plumbv1.DriftStatus_DRIFT_STATUS_ACCEPTED),
	}
	update(t, s, func(tx store.Tx) error {
		for _, it := range items {
			if err := tx.PutDrift(it); err != nil {
				return err
			}
		}
		return nil
	})
	ids := func(host string, closed bool) []string {
		var out []string
		view(t, s, func(tx store.ReadTx) error {
			out = nil
			return tx.DriftItems(host, closed, func(it *plumbv1.DriftItem) error {
				out = append(out, it.GetId())
				return nil
			})
		})
		return out
	}
	for _, tc := range []struct {
		host   string
		closed bool
		want   []string
	}{
		{"h1", false, []string{"h1/a"}},
		{"h1", true, []string{"h1/a", "h1/b"}},
		{"", false, []string{"h1/a", "h2/a"}},
		{"", true, []string{"h1/a", "h1/b", "h2/a", "h2/c"}},
		{"ghost", true, nil},
	} {
		if diff := cmp.Diff(tc.want, ids(tc.host, tc.closed)); diff != "" {
			t.Errorf("DriftItems(%q, %v) (-want +got):\n%s", tc.host, tc.closed, diff)
		}
	}
	update(t, s, func(tx store.Tx) error {
		k := fact.Key{Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, ID: "b"}
		got, err := tx.Drift("h1", k)
		if err != nil {
			return err
		}
		if !proto.Equal(got, items[1]) {
			t.Errorf("Drift = %v, want %v", got, items[1])
		}
		if err := tx.DeleteDrift("h1", k); err != nil {
			return err
		}
		if _, err := tx.Drift("h1", k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Drift after delete = %v, want ErrNotFound", err)
		}
		if err := tx.DeleteDrift("h1", k); err != nil {
			return fmt.Errorf("deleting a missing drift item: %w", err)
		}
		return tx.DeleteDrift("ghost", k)
	})
	// The same fact's item again replaces the old one (one item per fact).
	reopened := driftItem("h1", "a", plumbv1.DriftStatus_DRIFT_STATUS_RESOLVED)
	reopened.Id = "h1/a#2"
	update(t, s, func(tx store.Tx) error { return tx.PutDrift(reopened) })
	if diff := cmp.Diff([]string{"h1/a#2"}, ids("h1", true)); diff != "" {
		t.Errorf("DriftItems after replacing (-want +got):\n%s", diff)
	}
}

func testFactsInBucket(t *testing.T, b Backend) {
	s := b.Open(t)
	want := map[uint32]int{}
	for i := range 300 {
		want[fact.KeyOf(fileFact(fmt.Sprintf("/etc/f%d", i), "x")).Bucket()]++
	}
	update(t, s, func(tx store.Tx) error {
		for i := range 300 {
			if err := tx.PutFact("h", fileFact(fmt.Sprintf("/etc/f%d", i), "x")); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		for b := range uint32(fact.BucketCount) {
			got := 0
			if err := tx.FactsInBucket("h", b, func(f *plumbv1.Fact) error {
				if fact.KeyOf(f).Bucket() != b {
					t.Errorf("fact %s is not in bucket %d", fact.KeyOf(f), b)
				}
				got++
				return nil
			}); err != nil {
				return err
			}
			if got != want[b] {
				t.Errorf("bucket %d: %d facts, want %d", b, got, want[b])
			}
		}
		return tx.FactsInBucket("nobody", 0, func(*plumbv1.Fact) error {
			t.Error("facts of an unknown host")
			return nil
		})
	})
}

// testOpenDriftCounts: the counts equal what a full decode of every stored
// item counts, over a seeded mix of kinds, statuses and severities (with
// unknown fields thrown in); a missing host counts none.
func testOpenDriftCounts(t *testing.T, b Backend) {
	rng := seeded(t)
	s := b.Open(t)
	kinds := []plumbv1.FactKind{plumbv1.FactKind_FACT_KIND_SYSCTL, plumbv1.FactKind_FACT_KIND_FILE, plumbv1.FactKind_FACT_KIND_HEALTH}
	var items []*plumbv1.DriftItem
	for i := range 500 {
		host := []string{"h1", "h2", "h3"}[rng.IntN(3)]
		it := &plumbv1.DriftItem{
			Id: "x", HostId: host, Kind: kinds[rng.IntN(len(kinds))], Key: []byte{byte('a' + i%26), byte(i / 26), 0xff},
			Change:   plumbv1.DriftChange_DRIFT_CHANGE_MODIFIED,
			Status:   plumbv1.DriftStatus(rng.IntN(4)),
			Severity: plumbv1.Severity(rng.IntN(4)),
			Baseline: sysctl("k", "0"), Current: sysctl("k", "1"), Reason: "r",
		}
		if rng.IntN(5) == 0 {
			it.ProtoReflect().SetUnknown([]byte{0xf8, 0x3e, 0x07}) // field 999, varint 7
		}
		items = append(items, it)
	}
	want := map[string]*plumbv1.OpenDriftCounts{}
	update(t, s, func(tx store.Tx) error {
		for _, it := range items {
			if err := tx.PutDrift(it); err != nil {
				return err
			}
		}
		return nil
	})
	// The expected counts, from full decodes of what is stored.
	view(t, s, func(tx store.ReadTx) error {
		clear(want)
		return tx.DriftItems("", false, func(it *plumbv1.DriftItem) error {
			c := want[it.GetHostId()]
			if c == nil {
				c = &plumbv1.OpenDriftCounts{}
				want[it.GetHostId()] = c
			}
			switch {
			case it.GetKind() == plumbv1.FactKind_FACT_KIND_HEALTH:
				c.Health++
				c.HealthKeys = append(c.HealthKeys, fact.Display(it.GetKey()))
			case it.GetSeverity() == plumbv1.Severity_SEVERITY_CRITICAL:
				c.Critical++
			case it.GetSeverity() == plumbv1.Severity_SEVERITY_WARNING:
				c.Warning++
			default:
				c.Info++
			}
			return nil
		})
	})
	if len(want) == 0 {
		t.Fatal("no open items stored")
	}
	view(t, s, func(tx store.ReadTx) error {
		for _, h := range []string{"h1", "h2", "h3", "ghost"} {
			got, err := tx.OpenDriftCounts(h)
			if err != nil {
				return err
			}
			w := want[h]
			if w == nil {
				w = &plumbv1.OpenDriftCounts{}
			}
			if d := cmp.Diff(w, got, protocmp.Transform()); d != "" {
				t.Errorf("host %s counts (-full decode +OpenDriftCounts):\n%s", h, d)
			}
		}
		return nil
	})
}

// testPolicies stores three versions and reads them back by version,
// newest, and newest first from a page position.
func testPolicies(t *testing.T, b Backend) {
	s := b.Open(t)
	update(t, s, func(tx store.Tx) error {
		for v := uint64(1); v <= 3; v++ {
			if err := tx.PutPolicy(&store.Policy{Version: v, Author: "ops", AppliedAt: int64(v), YAML: fmt.Sprintf("rules: [] # %d", v), Rules: int(v)}); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		p, err := tx.LatestPolicy()
		if err != nil || p.Version != 3 || p.YAML != "rules: [] # 3" {
			t.Errorf("LatestPolicy = %+v, %v", p, err)
		}
		want := &store.Policy{Version: 2, Author: "ops", AppliedAt: 2, YAML: "rules: [] # 2", Rules: 2}
		if p, err := tx.Policy(2); err != nil || !cmp.Equal(p, want) {
			t.Errorf("Policy(2) = %+v, %v; want %+v", p, err, want)
		}
		for before, want := range map[uint64][]uint64{0: {3, 2, 1}, 3: {2, 1}, 2: {1}, 1: nil, 9: {3, 2, 1}} {
			var got []uint64
			if err := tx.PoliciesBefore(before, func(p *store.Policy) error { got = append(got, p.Version); return nil }); err != nil {
				return err
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("PoliciesBefore(%d) = %v, want %v", before, got, want)
			}
		}
		return nil
	})
	if err := s.Update(t.Context(), func(tx store.Tx) error { return tx.PutPolicy(&store.Policy{}) }); err == nil {
		t.Error("PutPolicy of version 0 succeeded")
	}
}

func testSilenceRoundTrip(t *testing.T, b Backend) {
	s := b.Open(t)
	want := &store.Silence{
		ID: "sil-01", Hosts: []string{"web-*", "db-1"}, Labels: map[string]string{"env": "prod", "rôle": "web"},
		Kind: 1, Key: "/etc/nginx/**", StartsAt: 100, EndsAt: 200, Reason: "nginx upgrade\nticket 42",
		CreatedBy: "alice", CreatedAt: 99, ExpiredBy: "bob", ExpiredAt: 150, Summarized: true,
	}
	window := &store.Silence{ID: "mw-nightly-1", Hosts: []string{"*"}, StartsAt: 1, EndsAt: 2, Window: "nightly", CreatedBy: "maintenance:nightly"}
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutSilence(want); err != nil {
			return err
		}
		return tx.PutSilence(window)
	})
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.Silence("sil-01")
		if err != nil {
			return err
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Silence (-want +got):\n%s", d)
		}
		var ids []string
		if err := tx.Silences(func(s *store.Silence) error { ids = append(ids, s.ID); return nil }); err != nil {
			return err
		}
		if d := cmp.Diff([]string{"mw-nightly-1", "sil-01"}, ids); d != "" {
			t.Errorf("Silences order (-want +got):\n%s", d)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.DeleteSilence("sil-01"); err != nil {
			return err
		}
		return tx.DeleteSilence("never-was")
	})
	view(t, s, func(tx store.ReadTx) error {
		_, err := tx.Silence("sil-01")
		wantNotFound(t, "deleted silence", err)
		return nil
	})
	if err := s.Update(t.Context(), func(tx store.Tx) error { return tx.PutSilence(&store.Silence{}) }); err == nil {
		t.Error("PutSilence with an empty id succeeded")
	}
}

func testGroupBaselineRoundTrip(t *testing.T, b Backend) {
	s := b.Open(t)
	rec := &store.GroupBaseline{Group: "web", SourceHost: "web-1", By: "alice", Reason: "golden\nv1", At: 7, Generation: 2,
		Selections: []store.Selection{{Kind: 1, Key: "/etc/**"}, {Key: "x"}}, FactCount: 2}
	f1 := &plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte("/etc/a"), Digest: make([]byte, 32)}
	f2 := &plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte("/etc/b"), Digest: make([]byte, 32)}
	f3 := &plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte("/etc/\xff"), Digest: make([]byte, 32)}
	k1 := fact.KeyOf(f1)
	exc := &store.GroupException{Group: "web", Host: "web-2", Key: k1, By: "bob", Reason: "canary", At: 9}
	exc2 := &store.GroupException{Group: "web", Host: "web-10", Key: fact.KeyOf(f3), By: "bob", Reason: "odd", At: 10}
	exc3 := &store.GroupException{Group: "web", Host: "web-B", Key: k1, By: "bob"}
	exc4 := &store.GroupException{Group: "web", Host: "web-a", Key: fact.KeyOf(f3), By: "bob"}
	exc5 := &store.GroupException{Group: "web", Host: "web-a", Key: k1, By: "bob"}
	other := &store.GroupException{Group: "db", Host: "web-2", Key: k1, By: "carol"}
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutGroupBaseline(rec); err != nil {
			return err
		}
		for _, f := range []*plumbv1.Fact{f3, f1, f2} {
			if err := tx.PutGroupBaselineFact("web", f); err != nil {
				return err
			}
		}
		if err := tx.PutGroupBaselineFact("db", f2); err != nil {
			return err
		}
		if err := tx.DeleteGroupBaselineFact("web", fact.KeyOf(f2)); err != nil {
			return err
		}
		for _, e := range []*store.GroupException{exc4, exc, exc2, other, exc3, exc5} {
			if err := tx.PutGroupException(e); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.GroupBaseline("web")
		if err != nil || !cmp.Equal(got, rec) {
			t.Errorf("GroupBaseline = %+v, %v; want %+v", got, err, rec)
		}
		var facts []*plumbv1.Fact
		if err := tx.GroupBaselineFacts("web", func(f *plumbv1.Fact) error { facts = append(facts, f); return nil }); err != nil {
			return err
		}
		if d := cmp.Diff([]*plumbv1.Fact{f1, f3}, facts, protocmp.Transform()); d != "" {
			t.Errorf("GroupBaselineFacts (-want +got):\n%s", d)
		}
		if got, err := tx.GroupBaselineFact("web", fact.KeyOf(f3)); err != nil || !proto.Equal(got, f3) {
			t.Errorf("GroupBaselineFact = %v, %v; want %v", got, err, f3)
		}
		_, err = tx.GroupBaselineFact("web", fact.KeyOf(f2))
		wantNotFound(t, "deleted group baseline fact", err)
		e, err := tx.GroupException("web", "web-2", k1)
		if err != nil || !cmp.Equal(e, exc) {
			t.Errorf("GroupException = %+v, %v; want %+v", e, err, exc)
		}
		_, err = tx.GroupException("web", "web-3", k1)
		wantNotFound(t, "another host's exception", err)
		// In (host, key) order, hosts shorter ids first, then by bytes (as
		// bbolt's keys sort: the host id is length-prefixed): web-2
		// before web-B before web-a before web-10.
		var excs []*store.GroupException
		if err := tx.GroupExceptions("web", func(e *store.GroupException) error { excs = append(excs, e); return nil }); err != nil {
			return err
		}
		if d := cmp.Diff([]*store.GroupException{exc, exc3, exc5, exc4, exc2}, excs); d != "" {
			t.Errorf("GroupExceptions (-want +got):\n%s", d)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.DeleteGroupException("web", "web-2", k1); err != nil {
			return err
		}
		return tx.DeleteGroupException("web", "never", k1)
	})
	view(t, s, func(tx store.ReadTx) error {
		_, err := tx.GroupException("web", "web-2", k1)
		wantNotFound(t, "deleted exception", err)
		if e, err := tx.GroupException("db", "web-2", k1); err != nil || !cmp.Equal(e, other) {
			t.Errorf("db's exception after deleting web's = %+v, %v", e, err)
		}
		return nil
	})
}

func testCredentialsRoundTrip(t *testing.T, b Backend) {
	s := b.Open(t)
	jt := &store.JoinToken{ID: "jt1", Hash: []byte{0, 1, 0xff}, Created: 1, Expires: 2, UsesLeft: 3, CreatedBy: "alice"}
	at := &store.APIToken{ID: "at1", Hash: []byte{0xfe, 0}, Name: "ci", Role: 2, Created: 3, Expires: 0, CreatedBy: "bob"}
	id := &store.Identity{HostID: "web-1", KeyPin: "sha256:ab", Enrolled: 5, NotAfter: 6, Revoked: true, RevokedAt: 7, RevokedBy: "carol",
		Clashes: 2, ClashKeyPin: "sha256:cd", ClashAt: 8, ClashReason: "another key"}
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutJoinToken(jt); err != nil {
			return err
		}
		if err := tx.PutJoinToken(&store.JoinToken{ID: "jt0"}); err != nil {
			return err
		}
		if err := tx.PutAPIToken(at); err != nil {
			return err
		}
		if err := tx.PutAPIToken(&store.APIToken{ID: "at0"}); err != nil {
			return err
		}
		return tx.PutIdentity(id)
	})
	view(t, s, func(tx store.ReadTx) error {
		if got, err := tx.JoinToken("jt1"); err != nil || !cmp.Equal(got, jt) {
			t.Errorf("JoinToken = %+v, %v; want %+v", got, err, jt)
		}
		if got, err := tx.APIToken("at1"); err != nil || !cmp.Equal(got, at) {
			t.Errorf("APIToken = %+v, %v; want %+v", got, err, at)
		}
		if got, err := tx.Identity("web-1"); err != nil || !cmp.Equal(got, id) {
			t.Errorf("Identity = %+v, %v; want %+v", got, err, id)
		}
		var jts, ats, ids []string
		if err := tx.JoinTokens(func(v *store.JoinToken) error { jts = append(jts, v.ID); return nil }); err != nil {
			return err
		}
		if err := tx.APITokens(func(v *store.APIToken) error { ats = append(ats, v.ID); return nil }); err != nil {
			return err
		}
		if err := tx.Identities(func(v *store.Identity) error { ids = append(ids, v.HostID); return nil }); err != nil {
			return err
		}
		if got := fmt.Sprint(jts, ats, ids); got != "[jt0 jt1] [at0 at1] [web-1]" {
			t.Errorf("JoinTokens, APITokens, Identities = %s", got)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		for _, err := range []error{tx.DeleteJoinToken("jt1"), tx.DeleteAPIToken("at1"), tx.DeleteJoinToken("never"), tx.DeleteAPIToken("never")} {
			if err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		_, err := tx.JoinToken("jt1")
		wantNotFound(t, "deleted join token", err)
		_, err = tx.APIToken("at1")
		wantNotFound(t, "deleted API token", err)
		return nil
	})
}

// testFactHistory: entries come back in (At, key) order after a time, per
// host; of two changes of one fact at one instant the first is kept.
func testFactHistory(t *testing.T, b Backend) {
	s := b.Open(t)
	ka := fact.Key{Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, ID: "a"}
	kb := fact.Key{Kind: plumbv1.FactKind_FACT_KIND_FILE, ID: "/etc/\xff"}
	old := sysctl("a", "0")
	update(t, s, func(tx store.Tx) error {
		for _, c := range []struct {
			host string
			at   int64
			k    fact.Key
			old  *plumbv1.Fact
		}{
			{"h", 30, ka, old},
			{"h", 10, kb, nil},
			{"h", 10, ka, old},
			{"h", 20, ka, nil},
			{"h", 20, ka, sysctl("a", "later")}, // same instant: the first stays
			{"h2", 15, ka, old},
			{"hh", 15, ka, old}, // not h's, though h is a prefix of its id
		} {
			if err := tx.PutFactChange(c.host, c.at, c.k, c.old); err != nil {
				return err
			}
		}
		return nil
	})
	// Across transactions too, the first change at an instant stays.
	update(t, s, func(tx store.Tx) error { return tx.PutFactChange("h", 30, ka, sysctl("a", "later")) })
	list := func(host string, after int64) string {
		var out []string
		view(t, s, func(tx store.ReadTx) error {
			out = nil
			return tx.FactChanges(host, after, func(c *store.FactChange) error {
				v := "absent"
				if c.Old != nil {
					v = c.Old.GetAttrs().(*plumbv1.Fact_Value).Value.GetValue()
				}
				out = append(out, fmt.Sprintf("%d:%s=%s", c.At, c.Key, v))
				return nil
			})
		})
		return fmt.Sprint(out)
	}
	for _, tc := range []struct {
		host  string
		after int64
		want  string
	}{
		// Within an instant, key order: (kind number, key bytes), so files
		// (1) before sysctls (6).
		{"h", 0, "[10:file:/etc/\\xff=absent 10:sysctl:a=0 20:sysctl:a=absent 30:sysctl:a=0]"},
		{"h", 10, "[20:sysctl:a=absent 30:sysctl:a=0]"},
		{"h", 29, "[30:sysctl:a=0]"},
		{"h", 30, "[]"},
		{"h2", 0, "[15:sysctl:a=0]"},
		{"ghost", 0, "[]"},
	} {
		if got := list(tc.host, tc.after); got != tc.want {
			t.Errorf("FactChanges(%q, %d) = %s, want %s", tc.host, tc.after, got, tc.want)
		}
	}
	view(t, s, func(tx store.ReadTx) error {
		return tx.FactChanges("h", 0, func(c *store.FactChange) error {
			if c.Old != nil && c.At == 30 && !proto.Equal(c.Old, old) {
				t.Errorf("old value at 30 = %v, want %v", c.Old, old)
			}
			return nil
		})
	})
}

// testAuditLog: records get increasing Seqs, read back in order with a
// limit, every field kept.
func testAuditLog(t *testing.T, b Backend) {
	s := b.Open(t)
	var recs []*store.AuditRecord
	update(t, s, func(tx store.Tx) error {
		recs = nil
		for i := range 5 {
			r := &store.AuditRecord{At: int64(100 + i), Actor: "alice", Action: "silence.create", Host: "h", Target: fmt.Sprint("s", i), Reason: "why\n"}
			if err := tx.AppendAudit(r); err != nil {
				return err
			}
			recs = append(recs, r)
		}
		return nil
	})
	for i := 1; i < len(recs); i++ {
		if recs[i].Seq <= recs[i-1].Seq || recs[0].Seq == 0 {
			t.Fatalf("AppendAudit assigned seqs %d then %d", recs[i-1].Seq, recs[i].Seq)
		}
	}
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.AuditAfter(0, 100)
		if err != nil {
			return err
		}
		if d := cmp.Diff(recs, got); d != "" {
			t.Errorf("AuditAfter(0) (-want +got):\n%s", d)
		}
		got, err = tx.AuditAfter(recs[1].Seq, 2)
		if err != nil {
			return err
		}
		if d := cmp.Diff(recs[2:4], got); d != "" {
			t.Errorf("AuditAfter(second, 2) (-want +got):\n%s", d)
		}
		for _, c := range []struct {
			after uint64
			limit int
		}{{recs[4].Seq, 10}, {0, 0}, {0, -1}, {^uint64(0), 10}} {
			if got, err := tx.AuditAfter(c.after, c.limit); err != nil || len(got) != 0 {
				t.Errorf("AuditAfter(%d, %d) = %v, %v; want none", c.after, c.limit, got, err)
			}
		}
		return nil
	})
}
