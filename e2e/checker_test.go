package e2e

import (
	"encoding/hex"
	"strings"
	"testing"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/agent/state"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// The checker must fail when it should: these feed it made-up histories.

func ev(seq uint64, id, typ, item, digest string) event {
	e := event{ID: id, Type: typ, Seq: seq, ItemID: item, Key: "/etc/" + item}
	if digest != "" {
		e.Current = map[string]any{"digest": digest}
	}
	return e
}

func item(id, status, current string) colItem {
	it := colItem{ID: id, Key: "/etc/" + id, Status: status, Change: "modified"}
	if current != "" {
		it.Current = &struct{ Digest string }{current}
	}
	return it
}

func TestCheckWebhooks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		evs      []event
		restores []int
		items    []colItem
		want     string // a substring of one problem; "" for none
	}{
		{
			name:  "clean",
			evs:   []event{ev(1, "e1", "drift.opened", "a", "d1"), ev(2, "e2", "drift.updated", "a", "d2")},
			items: []colItem{item("a", "open", "d2")},
		},
		{
			name: "retry under the same id",
			evs: []event{ev(1, "e1", "drift.opened", "a", "d1"), ev(2, "e2", "drift.updated", "a", "d2"),
				ev(1, "e1", "drift.opened", "a", "d1"), ev(2, "e2", "drift.updated", "a", "d2")},
			items: []colItem{item("a", "open", "d2")},
		},
		{
			name:  "doubled finding",
			evs:   []event{ev(1, "e1", "drift.opened", "a", "d1"), ev(2, "e2", "drift.opened", "a", "d1")},
			items: []colItem{item("a", "open", "d1")},
			want:  "arrived under two ids: e1 (seq 1) and e2 (seq 2)",
		},
		{
			name: "the same value again after a change",
			evs: []event{ev(1, "e1", "drift.opened", "a", "d1"), ev(2, "e2", "drift.updated", "a", "d2"),
				ev(3, "e3", "drift.updated", "a", "d1")},
			items: []colItem{item("a", "open", "d1")},
		},
		{
			name:  "one id, two meanings",
			evs:   []event{ev(1, "e1", "drift.opened", "a", "d1"), ev(1, "e1", "drift.opened", "a", "d2")},
			items: []colItem{item("a", "open", "d2")},
			want:  "event id e1 arrived as drift.opened at d1 and as drift.opened at d2",
		},
		{
			name:  "lost event",
			evs:   []event{ev(1, "e1", "drift.opened", "a", "d1"), ev(3, "e3", "drift.opened", "b", "d3")},
			items: []colItem{item("a", "open", "d1"), item("b", "open", "d3")},
			want:  "1 events between seq 1 and 3",
		},
		{
			name:  "lost first event",
			evs:   []event{ev(2, "e2", "drift.opened", "a", "d1")},
			items: []colItem{item("a", "open", "d1")},
			want:  "has seq 2, not 1",
		},
		{
			name:  "open item never notified",
			evs:   []event{ev(1, "e1", "drift.opened", "b", "d1")},
			items: []colItem{item("a", "open", "d1"), item("b", "open", "d1")},
			want:  "item a (/etc/a modified, open, current d1) never reached",
		},
		{
			name:  "last update lost",
			evs:   []event{ev(1, "e1", "drift.opened", "a", "d1")},
			items: []colItem{item("a", "open", "d2")},
			want:  "never reached the webhook",
		},
		{
			name:  "resolved but last webhook says open",
			evs:   []event{ev(1, "e1", "drift.opened", "a", "d1"), ev(2, "e2", "drift.resolved", "a", "d0"), ev(3, "e3", "drift.updated", "a", "d2")},
			items: []colItem{item("a", "resolved", "d0")},
			want:  "is resolved but its last webhook is drift.updated",
		},
		{
			name:  "replaced item left open on-call",
			evs:   []event{ev(1, "e1", "drift.opened", "old", "d1"), ev(2, "e2", "drift.opened", "a", "d2")},
			items: []colItem{item("a", "open", "d2")},
			want:  "gone from the collector but its last webhook is drift.opened",
		},
		{
			name:  "never opened",
			evs:   []event{ev(1, "e1", "drift.updated", "a", "d1")},
			items: []colItem{item("a", "open", "d1")},
			want:  "never as drift.opened",
		},
		{
			name: "restore replays history and starts seqs over",
			evs: []event{ev(1, "e1", "drift.opened", "a", "d1"), ev(2, "e2", "drift.updated", "a", "d2"),
				ev(2, "x2", "drift.updated", "a", "d2"), ev(3, "x3", "drift.updated", "a", "d3")},
			restores: []int{2},
			items:    []colItem{item("a", "open", "d3")},
		},
		{
			name: "restore: last epoch decides",
			evs: []event{ev(1, "e1", "drift.opened", "a", "d1"), ev(2, "e2", "drift.resolved", "a", "d0"),
				ev(2, "x2", "drift.updated", "a", "d3")},
			restores: []int{2},
			items:    []colItem{item("a", "resolved", "d0")},
			want:     "is resolved but its last webhook is drift.updated",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := checkWebhooks(tc.evs, tc.restores, tc.items)
			if tc.want == "" {
				if len(got) > 0 {
					t.Fatalf("problems %q, want none", got)
				}
				return
			}
			for _, p := range got {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Fatalf("problems %q, want one containing %q", got, tc.want)
		})
	}
}

func TestCheckItems(t *testing.T) {
	base := diskState{facts: map[string]diskFact{
		"/etc/same": {Digest: "s"}, "/etc/mod": {Digest: "m0"}, "/etc/gone": {Digest: "g"},
	}}
	disk := diskState{facts: map[string]diskFact{
		"/etc/same": {Digest: "s"}, "/etc/mod": {Digest: "m1"}, "/etc/new": {Digest: "n"},
	}}
	it := func(key, change, baseline, current string) colItem {
		c := colItem{ID: key, Key: key, Change: change, Status: "open"}
		if baseline != "" {
			c.Baseline = &struct{ Digest string }{baseline}
		}
		if current != "" {
			c.Current = &struct{ Digest string }{current}
		}
		return c
	}
	good := []colItem{it("/etc/mod", "modified", "m0", "m1"), it("/etc/gone", "removed", "g", ""), it("/etc/new", "added", "", "n")}
	if p := checkItems(base, disk, good, colHost{OpenDrift: 3}); len(p) > 0 {
		t.Fatalf("problems %q for exact drift", p)
	}
	for _, tc := range []struct {
		name  string
		items []colItem
		open  uint64
		want  string
	}{
		{"missing", good[1:], 2, "/etc/mod is modified against the baseline but has no open item"},
		{"stale value", []colItem{it("/etc/mod", "modified", "m0", "m0"), good[1], good[2]}, 3, "item /etc/mod says modified, current m0"},
		{"drift on an unchanged fact", append([]colItem{it("/etc/same", "modified", "s", "x")}, good...), 4, "back at its baseline"},
		{"count", good, 2, "host counts 2 open drift items, drift lists 3"},
		{"phantom", append([]colItem{it("/etc/never", "added", "", "z")}, good...), 4, "neither on disk nor in the baseline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := checkItems(base, disk, tc.items, colHost{OpenDrift: tc.open})
			for _, p := range got {
				if strings.Contains(p.msg, tc.want) {
					return
				}
			}
			t.Fatalf("problems %q, want one containing %q", got, tc.want)
		})
	}
}

func TestCompareAgentDB(t *testing.T) {
	dir := t.TempDir()
	db, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte("/etc/a"),
		Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{Type: plumbv1.FileType_FILE_TYPE_REGULAR}}})
	if _, err := db.Apply([]source.Op{{Upsert: f}}); err != nil {
		t.Fatal(err)
	}
	sum := hex.EncodeToString(db.Status().Digest)
	if err := db.Ack(1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	same := []colFact{{Key: "/etc/a", Digest: hex.EncodeToString(f.GetDigest())}}
	if p := compareAgentDB(dir, colHost{SetDigest: sum}, same); len(p) > 0 {
		t.Fatalf("problems %q for equal states", p)
	}
	other := []colFact{{Key: "/etc/b", Digest: "00"}}
	got := strings.Join(compareAgentDB(dir, colHost{SetDigest: "00"}, other), "\n")
	for _, want := range []string{"agent set digest", "agent holds /etc/a, the collector does not", "collector holds /etc/b, the agent does not"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems %q lack %q", got, want)
		}
	}
}

func TestReplayWebhooks(t *testing.T) {
	base := diskState{facts: map[string]diskFact{
		"/etc/same": {Digest: "s"}, "/etc/mod": {Digest: "m0"}, "/etc/gone": {Digest: "g"},
	}}
	disk := diskState{facts: map[string]diskFact{
		"/etc/same": {Digest: "s"}, "/etc/mod": {Digest: "m1"}, "/etc/new": {Digest: "n"},
	}}
	at := func(seq uint64, id, typ, item, key, digest string) event {
		e := ev(seq, id, typ, item, digest)
		e.Key, e.Change = key, "modified"
		return e
	}
	good := []event{
		at(1, "e1", "drift.opened", "i1", "/etc/mod", "mx"),
		at(2, "e2", "drift.opened", "i2", "/etc/same", "s1"),
		at(3, "e3", "drift.updated", "i1", "/etc/mod", "m1"),
		at(4, "e4", "drift.resolved", "i2", "/etc/same", "s"),
		at(5, "e5", "drift.opened", "i3", "/etc/gone", ""),
		at(6, "e6", "drift.opened", "i4", "/etc/new", "n"),
	}
	// Out of order and retried: replay goes by seq and id.
	shuffled := append([]event{good[5], good[2], good[0]}, good...)
	if p := replayWebhooks(shuffled, base, disk); len(p) > 0 {
		t.Fatalf("problems %q for an exact replay", p)
	}
	for _, tc := range []struct {
		name string
		evs  []event
		want string
	}{
		{"phantom left open", append(good[:6:6], at(7, "e7", "drift.opened", "i5", "/etc/x.dpkg-new", "x")),
			"webhooks leave /etc/x.dpkg-new open (item i5, modified at x, seq 7), but it is neither on disk nor in the baseline"},
		{"stale value", good[:2], "webhooks leave /etc/mod open at mx"},
		{"never heard", good[:5], "/etc/new differs from its baseline, but the webhooks leave it closed"},
		{"removal never heard", append(good[:4:4], good[5]), "/etc/gone is gone from disk, but the webhooks leave it closed"},
		{"resolved yet back", append(good[:6:6], at(7, "e7", "drift.opened", "i6", "/etc/same", "s")), "but it is at its baseline"},
		{"two open", append(good[:6:6], at(7, "e7", "drift.opened", "i7", "/etc/new", "n")), "webhooks leave /etc/new open twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := replayWebhooks(tc.evs, base, disk)
			for _, p := range got {
				if strings.Contains(p.msg, tc.want) {
					return
				}
			}
			t.Fatalf("problems %q, want one containing %q", got, tc.want)
		})
	}
}
