package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

func sysctl(name, value string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{
		Kind:  plumbv1.FactKind_FACT_KIND_SYSCTL,
		Key:   []byte(name),
		Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: value}},
	})
}

func TestHostRoundTrip(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	want := &Host{
		ID:          "db-1",
		Info:        &plumbv1.HostInfo{Hostname: "db-1", Os: "linux", KernelVersion: "6.1.0"},
		Labels:      map[string]string{"role": "db", "env": "prod"},
		AppliedSeq:  42,
		Resyncs:     7,
		FactCount:   2,
		HasBaseline: true,
		OpenDrift:   1,
		LastSeen:    1700000000123456789,
		Coverage: []*plumbv1.CoverageCondition{{
			Source: "file", State: plumbv1.CoverageState_COVERAGE_STATE_BLIND,
			Reason: "unreadable", Detail: "/root/ünïcode", SinceUnixNano: 5,
		}},
	}
	want.Digest.Add(fact.KeyOf(sysctl("a", "1")), sysctl("a", "1").GetDigest())
	want.Digest.Add(fact.KeyOf(fileFact("/etc/\xffbad", "x")), []byte("d"))
	other := &Host{ID: "app-1"}
	err := s.Update(ctx, func(tx Tx) error {
		if err := tx.PutHost(want); err != nil {
			return err
		}
		return tx.PutHost(other)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx, func(tx ReadTx) error {
		got, err := tx.Host("db-1")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want, got, protocmp.Transform(), cmp.AllowUnexported(fact.SetDigest{})); diff != "" {
			t.Errorf("Host round trip (-want +got):\n%s", diff)
		}
		var ids []string
		if err := tx.Hosts(func(h *Host) error { ids = append(ids, h.ID); return nil }); err != nil {
			return err
		}
		if diff := cmp.Diff([]string{"app-1", "db-1"}, ids); diff != "" {
			t.Errorf("Hosts order (-want +got):\n%s", diff)
		}
		if _, err := tx.Host("nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Host(nope) = %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx Tx) error { return tx.PutHost(&Host{}) }); err == nil {
		t.Error("PutHost with an empty id succeeded")
	}
}

func TestFactsRoundTrip(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	facts := []*plumbv1.Fact{
		fileFact("/etc/b", "2"),
		fileFact("/etc/a", "1"),
		fileFact("/etc/\xff\xfe", "raw"),
		sysctl("net.ipv4.ip_forward", "0"),
		sysctl("kernel.panic", "10"),
	}
	err := s.Update(ctx, func(tx Tx) error {
		for _, f := range facts {
			if err := tx.PutFact("h", f); err != nil {
				return err
			}
		}
		// Another host's facts must not leak into h's.
		return tx.PutFact("h2", fileFact("/etc/other", "o"))
	})
	if err != nil {
		t.Fatal(err)
	}
	keys := func(kind plumbv1.FactKind) []string {
		var out []string
		err := s.View(ctx, func(tx ReadTx) error {
			return tx.Facts("h", kind, func(f *plumbv1.Fact) error {
				out = append(out, string(f.GetKey()))
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
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

	err = s.Update(ctx, func(tx Tx) error {
		got, err := tx.Fact("h", fact.KeyOf(facts[2]))
		if err != nil {
			return err
		}
		if !proto.Equal(got, facts[2]) {
			t.Errorf("Fact = %v, want %v", got, facts[2])
		}
		if err := tx.DeleteFact("h", fact.KeyOf(facts[2])); err != nil {
			return err
		}
		if _, err := tx.Fact("h", fact.KeyOf(facts[2])); !errors.Is(err, ErrNotFound) {
			t.Errorf("Fact after delete = %v, want ErrNotFound", err)
		}
		// Deleting what is not there, or from an unknown host, is a no-op.
		if err := tx.DeleteFact("h", fact.KeyOf(facts[2])); err != nil {
			return err
		}
		return tx.DeleteFact("ghost", fact.KeyOf(facts[2]))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(plumbv1.FactKind_FACT_KIND_FILE); len(got) != 2 {
		t.Errorf("file facts after delete: %q", got)
	}
	// A host that only has facts (no PutHost yet) is not listed.
	err = s.View(ctx, func(tx ReadTx) error {
		return tx.Hosts(func(h *Host) error {
			t.Errorf("Hosts listed %q, which has no record", h.ID)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBaselinesRoundTrip(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	a, b := sysctl("b", "2"), sysctl("a", "1")
	err := s.Update(ctx, func(tx Tx) error {
		if err := tx.PutBaseline("h", a); err != nil {
			return err
		}
		if err := tx.PutBaseline("h", b); err != nil {
			return err
		}
		got, err := tx.Baseline("h", fact.KeyOf(a))
		if err != nil {
			return err
		}
		if !proto.Equal(got, a) {
			t.Errorf("Baseline = %v, want %v", got, a)
		}
		if _, err := tx.Fact("h", fact.KeyOf(a)); !errors.Is(err, ErrNotFound) {
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
		if _, err := tx.Baseline("h", fact.KeyOf(a)); !errors.Is(err, ErrNotFound) {
			t.Errorf("Baseline after delete = %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDriftRoundTrip(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	item := func(host, key string, status plumbv1.DriftStatus) *plumbv1.DriftItem {
		return &plumbv1.DriftItem{
			Id: host + key, HostId: host, Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, Key: []byte(key),
			Change: plumbv1.DriftChange_DRIFT_CHANGE_MODIFIED, Status: status,
			Baseline: sysctl(key, "0"), Current: sysctl(key, "1"),
		}
	}
	items := []*plumbv1.DriftItem{
		item("h1", "a", plumbv1.DriftStatus_DRIFT_STATUS_OPEN),
		item("h1", "b", plumbv1.DriftStatus_DRIFT_STATUS_RESOLVED),
		item("h2", "a", plumbv1.DriftStatus_DRIFT_STATUS_OPEN),
		item("h2", "c", plumbv1.DriftStatus_DRIFT_STATUS_ACCEPTED),
	}
	err := s.Update(ctx, func(tx Tx) error {
		for _, it := range items {
			if err := tx.PutDrift(it); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(host string, closed bool) []string {
		var out []string
		err := s.View(ctx, func(tx ReadTx) error {
			return tx.DriftItems(host, closed, func(it *plumbv1.DriftItem) error {
				out = append(out, it.GetId())
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, tc := range []struct {
		host   string
		closed bool
		want   []string
	}{
		{"h1", false, []string{"h1a"}},
		{"h1", true, []string{"h1a", "h1b"}},
		{"", false, []string{"h1a", "h2a"}},
		{"", true, []string{"h1a", "h1b", "h2a", "h2c"}},
		{"ghost", true, nil},
	} {
		if diff := cmp.Diff(tc.want, ids(tc.host, tc.closed)); diff != "" {
			t.Errorf("DriftItems(%q, %v) (-want +got):\n%s", tc.host, tc.closed, diff)
		}
	}
	err = s.Update(ctx, func(tx Tx) error {
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
		if _, err := tx.Drift("h1", k); !errors.Is(err, ErrNotFound) {
			t.Errorf("Drift after delete = %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFactsInBucket(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	want := map[uint32]int{}
	err := s.Update(ctx, func(tx Tx) error {
		for i := range 300 {
			f := fileFact(fmt.Sprintf("/etc/f%d", i), "x")
			want[fact.KeyOf(f).Bucket()]++
			if err := tx.PutFact("h", f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx, func(tx ReadTx) error {
		for b, n := range want {
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
			if got != n {
				t.Errorf("bucket %d: %d facts, want %d", b, got, n)
			}
		}
		return tx.FactsInBucket("nobody", 0, func(*plumbv1.Fact) error {
			t.Error("facts of an unknown host")
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFactsAfterPages(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	err := s.Update(ctx, func(tx Tx) error {
		if err := tx.PutHost(&Host{ID: "h"}); err != nil {
			return err
		}
		for _, f := range []*plumbv1.Fact{sysctl("a", "1"), sysctl("b", "1"), sysctl("c", "1"), fileFact("/x", "1"), fileFact("/y", "1")} {
			if err := tx.PutFact("h", f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	keys := func(kind plumbv1.FactKind, after *fact.Key) string {
		var out []string
		err := s.View(ctx, func(tx ReadTx) error {
			return tx.FactsAfter("h", kind, after, func(f *plumbv1.Fact) error {
				out = append(out, string(f.GetKey()))
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(out)
	}
	file, sys := plumbv1.FactKind_FACT_KIND_FILE, plumbv1.FactKind_FACT_KIND_SYSCTL
	all := plumbv1.FactKind_FACT_KIND_UNSPECIFIED
	for _, tc := range []struct {
		kind  plumbv1.FactKind
		after *fact.Key
		want  string
	}{
		{all, nil, keys(all, nil)},
		{sys, nil, "[a b c]"},
		{sys, &fact.Key{Kind: sys, ID: "a"}, "[b c]"},
		{sys, &fact.Key{Kind: sys, ID: "bb"}, "[c]"}, // a key that does not exist
		{sys, &fact.Key{Kind: sys, ID: "c"}, "[]"},
		{sys, &fact.Key{Kind: file, ID: "/x"}, keysAfterFile(file, sys)},
		{file, &fact.Key{Kind: file, ID: "/x"}, "[/y]"},
	} {
		if got := keys(tc.kind, tc.after); got != tc.want {
			t.Errorf("FactsAfter(%v, %v) = %s, want %s", tc.kind, tc.after, got, tc.want)
		}
	}
	if got := keys(all, nil); got != "[/x /y a b c]" && got != "[a b c /x /y]" {
		t.Errorf("all facts: %s", got)
	}
}

// keysAfterFile is what a sysctl listing resumed after a file key holds:
// nothing if files sort after sysctls, every sysctl if before.
func keysAfterFile(file, sys plumbv1.FactKind) string {
	if file < sys {
		return "[a b c]"
	}
	return "[]"
}

func TestLeaseOneHolderUntilExpiry(t *testing.T) {
	s, _ := openTemp(t)
	claim := func(holder string, now int64) bool {
		t.Helper()
		var ok bool
		if err := s.Update(context.Background(), func(tx Tx) error {
			var err error
			ok, err = tx.ClaimLease("notifier/hook", holder, now, now+10)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim("a", 100) {
		t.Fatal("a could not claim a free lease")
	}
	if claim("b", 105) {
		t.Fatal("b claimed a lease a holds until 110")
	}
	if !claim("a", 108) {
		t.Fatal("a could not renew its own lease")
	}
	if claim("b", 117) {
		t.Fatal("b claimed a lease a renewed until 118")
	}
	if !claim("b", 118) {
		t.Fatal("b could not claim a lease expired at 118")
	}
	if err := s.Update(context.Background(), func(tx Tx) error { return tx.ReleaseLease("notifier/hook", "a") }); err != nil {
		t.Fatal(err)
	}
	if claim("a", 119) {
		t.Fatal("a's release freed b's lease")
	}
}
