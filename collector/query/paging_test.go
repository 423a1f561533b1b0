package query

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/page"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// seeded returns a generator seeded from the clock, printing the seed so
// that a failure can be replayed.
func seeded(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, 7))
}

// pageAll calls list with a random page size (1 to maxSize) per page
// until the list ends, and returns every item. It checks that no page is
// larger than asked.
func pageAll[T any](t *testing.T, rng *rand.Rand, maxSize int, list func(size uint32, token string) ([]T, string, error)) []T {
	t.Helper()
	var all []T
	token := ""
	for calls := 0; ; calls++ {
		if calls > 100000 {
			t.Fatal("paging never ends")
		}
		size := uint32(1 + rng.IntN(maxSize))
		items, next, err := list(size, token)
		if err != nil {
			t.Fatalf("page %d (size %d): %v", calls, size, err)
		}
		if len(items) > int(size) {
			t.Fatalf("page of %d items, asked for %d", len(items), size)
		}
		all = append(all, items...)
		if next == "" {
			return all
		}
		token = next
	}
}

// labelReq is one requirement of a label selector, as the test means it;
// holds is the oracle, String what the request says.
type labelReq struct{ key, op, value string } // op: "=", "!=", "" (exists), "!" (absent)

func (l labelReq) String() string {
	switch l.op {
	case "":
		return l.key
	case "!":
		return "!" + l.key
	}
	return l.key + l.op + l.value
}

func (l labelReq) holds(labels map[string]string) bool {
	v, ok := labels[l.key]
	switch l.op {
	case "=":
		return ok && v == l.value
	case "!=":
		return !ok || v != l.value
	case "":
		return ok
	}
	return !ok
}

var (
	labelKeys   = []string{"env", "role", "zone"}
	labelValues = []string{"a", "b", "c"}
)

func randomLabels(rng *rand.Rand) map[string]string {
	l := map[string]string{}
	for _, k := range labelKeys {
		if rng.IntN(3) > 0 {
			l[k] = labelValues[rng.IntN(len(labelValues))]
		}
	}
	return l
}

func randomSelector(rng *rand.Rand) []labelReq {
	var sel []labelReq
	for range rng.IntN(3) {
		sel = append(sel, labelReq{
			key: labelKeys[rng.IntN(len(labelKeys))], op: []string{"=", "!=", "", "!"}[rng.IntN(4)],
			value: labelValues[rng.IntN(len(labelValues))],
		})
	}
	return sel
}

func selectorString(sel []labelReq) string {
	var parts []string
	for _, r := range sel {
		parts = append(parts, r.String())
	}
	return strings.Join(parts, ",")
}

func selectorHolds(sel []labelReq, labels map[string]string) bool {
	for _, r := range sel {
		if !r.holds(labels) {
			return false
		}
	}
	return true
}

// keyGlob is a glob the test can judge without a glob library: a prefix
// and "**", "*" below a directory, or a suffix.
type keyGlob struct{ glob, prefix, suffix string }

func (g keyGlob) holds(key string) bool {
	switch {
	case g.glob == "":
		return true
	case g.suffix != "":
		return strings.HasSuffix(key, g.suffix)
	case strings.HasSuffix(g.glob, "/**"):
		return strings.HasPrefix(key, g.prefix)
	}
	// prefix + "*": one path element below prefix.
	return strings.HasPrefix(key, g.prefix) && !strings.Contains(key[len(g.prefix):], "/") && len(key) > len(g.prefix)
}

func randomKeyGlob(rng *rand.Rand, dirs []string) keyGlob {
	d := dirs[rng.IntN(len(dirs))]
	switch rng.IntN(4) {
	case 0:
		return keyGlob{}
	case 1:
		return keyGlob{glob: "/" + d + "/**", prefix: "/" + d + "/"}
	case 2:
		return keyGlob{glob: "/" + d + "/*", prefix: "/" + d + "/"}
	}
	return keyGlob{glob: "**/*.conf", suffix: ".conf"}
}

func TestListHostsPagingAndFilters(t *testing.T) {
	r := newRig(t)
	rng := seeded(t)
	ctx := ctxT(t)
	type host struct {
		id     string
		labels map[string]string
		stale  bool
	}
	var hosts []host
	err := r.st.Update(ctx, func(tx store.Tx) error {
		for i := range 300 {
			h := host{id: fmt.Sprintf("%s-%03d", []string{"web", "db", "cache"}[rng.IntN(3)], i), labels: randomLabels(rng), stale: rng.IntN(4) == 0}
			if i == 0 {
				h.id = "web-1" // the rig's one connected host
			}
			hosts = append(hosts, h)
			if err := tx.PutHost(&store.Host{ID: h.id, Labels: h.labels}); err != nil {
				return err
			}
			status := plumbv1.DriftStatus_DRIFT_STATUS_RESOLVED
			if h.stale {
				status = plumbv1.DriftStatus_DRIFT_STATUS_OPEN
			}
			if rng.IntN(2) == 0 || h.stale {
				if err := tx.PutDrift(&plumbv1.DriftItem{Id: "h" + h.id, HostId: h.id, Kind: plumbv1.FactKind_FACT_KIND_HEALTH,
					Key: []byte(drift.HealthReporting), Status: status}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(hosts, func(a, b host) int { return strings.Compare(a.id, b.id) })
	for range 40 {
		sel := randomSelector(rng)
		state := plumbv1.HostState(rng.IntN(4))
		prefix := []string{"", "web-", "db-", "cache-0"}[rng.IntN(4)]
		req := &plumbv1.ListHostsRequest{LabelSelector: selectorString(sel), State: state}
		if prefix != "" {
			req.HostGlob = prefix + "*"
		}
		var want []string
		for _, h := range hosts {
			ok := strings.HasPrefix(h.id, prefix) && selectorHolds(sel, h.labels)
			switch state {
			case plumbv1.HostState_HOST_STATE_CONNECTED:
				ok = ok && h.id == "web-1"
			case plumbv1.HostState_HOST_STATE_DISCONNECTED:
				ok = ok && h.id != "web-1"
			case plumbv1.HostState_HOST_STATE_STALE:
				ok = ok && h.stale
			}
			if ok {
				want = append(want, h.id)
			}
		}
		got := pageAll(t, rng, 40, func(size uint32, token string) ([]string, string, error) {
			req.PageSize, req.PageToken = size, token
			resp, err := r.client.ListHosts(ctx, req)
			var ids []string
			for _, h := range resp.GetHosts() {
				ids = append(ids, h.GetHostId())
			}
			return ids, resp.GetNextPageToken(), err
		})
		if !slices.Equal(got, want) {
			t.Fatalf("ListHosts(selector %q, state %s, glob %q) paged:\n%v\nwant (every match once, in id order):\n%v",
				req.GetLabelSelector(), state, req.GetHostGlob(), got, want)
		}
	}
}

// driftSeed puts n random drift items on hosts with random labels,
// straight into the store, and returns them in list order with the
// hosts' labels.
func driftSeed(t *testing.T, r *rig, rng *rand.Rand, n int) ([]*plumbv1.DriftItem, map[string]map[string]string) {
	t.Helper()
	labels := map[string]map[string]string{}
	var items []*plumbv1.DriftItem
	seen := map[string]bool{}
	kinds := []plumbv1.FactKind{plumbv1.FactKind_FACT_KIND_FILE, plumbv1.FactKind_FACT_KIND_PACKAGE, plumbv1.FactKind_FACT_KIND_SYSCTL}
	err := r.st.Update(context.Background(), func(tx store.Tx) error {
		for i := range 12 {
			id := fmt.Sprintf("h%02d", i)
			labels[id] = randomLabels(rng)
			if err := tx.PutHost(&store.Host{ID: id, Labels: labels[id]}); err != nil {
				return err
			}
		}
		for len(items) < n {
			it := &plumbv1.DriftItem{
				HostId: fmt.Sprintf("h%02d", rng.IntN(12)),
				Kind:   kinds[rng.IntN(len(kinds))],
				Key: []byte(fmt.Sprintf("/%s/%s%d%s", []string{"etc", "usr", "srv"}[rng.IntN(3)],
					[]string{"", "sub/"}[rng.IntN(2)], rng.IntN(500), []string{"", ".conf"}[rng.IntN(2)])),
				Status:          plumbv1.DriftStatus(1 + rng.IntN(3)),
				Severity:        plumbv1.Severity(rng.IntN(4)),
				UpdatedUnixNano: t0.Add(time.Duration(rng.IntN(1000)) * time.Minute).UnixNano(),
			}
			k := fmt.Sprintf("%s\x00%d\x00%s", it.GetHostId(), it.GetKind(), it.GetKey())
			if seen[k] {
				continue
			}
			seen[k] = true
			it.Id = fmt.Sprintf("%032x", len(items))
			items = append(items, it)
			if err := tx.PutDrift(it); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(items, func(a, b *plumbv1.DriftItem) int {
		return strings.Compare(
			fmt.Sprintf("%s\x00%s", a.GetHostId(), fact.Key{Kind: a.GetKind(), ID: string(a.GetKey())}.Encode()),
			fmt.Sprintf("%s\x00%s", b.GetHostId(), fact.Key{Kind: b.GetKind(), ID: string(b.GetKey())}.Encode()))
	})
	return items, labels
}

func TestListDriftPagingAndFilters(t *testing.T) {
	r := newRig(t)
	rng := seeded(t)
	ctx := ctxT(t)
	items, labels := driftSeed(t, r, rng, 1500)
	const (
		open     = plumbv1.DriftStatus_DRIFT_STATUS_OPEN
		resolved = plumbv1.DriftStatus_DRIFT_STATUS_RESOLVED
		accepted = plumbv1.DriftStatus_DRIFT_STATUS_ACCEPTED
	)
	statesOf := map[plumbv1.DriftState][]plumbv1.DriftStatus{
		plumbv1.DriftState_DRIFT_STATE_UNSPECIFIED: {open},
		plumbv1.DriftState_DRIFT_STATE_OPEN:        {open},
		plumbv1.DriftState_DRIFT_STATE_RESOLVED:    {resolved},
		plumbv1.DriftState_DRIFT_STATE_ACCEPTED:    {accepted},
		plumbv1.DriftState_DRIFT_STATE_CLOSED:      {resolved, accepted},
		plumbv1.DriftState_DRIFT_STATE_ALL:         {open, resolved, accepted},
	}
	for i := range 60 {
		req := &plumbv1.ListDriftRequest{State: plumbv1.DriftState(rng.IntN(6))}
		if req.State == plumbv1.DriftState_DRIFT_STATE_UNSPECIFIED && rng.IntN(2) == 0 {
			req.IncludeClosed = true // the old spelling of ALL
		}
		if rng.IntN(3) == 0 {
			req.HostId = fmt.Sprintf("h%02d", rng.IntN(12))
		}
		sel := randomSelector(rng)
		req.LabelSelector = selectorString(sel)
		if rng.IntN(2) == 0 {
			req.Kind = plumbv1.FactKind(1 + rng.IntN(3))
		}
		g := randomKeyGlob(rng, []string{"etc", "usr", "srv", "etc/sub"})
		req.KeyGlob = g.glob
		req.MinSeverity = plumbv1.Severity(rng.IntN(4))
		if rng.IntN(2) == 0 {
			req.SinceUnixNano = t0.Add(time.Duration(rng.IntN(1000)) * time.Minute).UnixNano()
		}
		if rng.IntN(2) == 0 {
			req.UntilUnixNano = req.SinceUnixNano + int64(time.Duration(rng.IntN(1000))*time.Minute)
		}
		statuses := statesOf[req.GetState()]
		if req.GetIncludeClosed() {
			statuses = statesOf[plumbv1.DriftState_DRIFT_STATE_ALL]
		}
		var want []string
		for _, it := range items {
			u := it.GetUpdatedUnixNano()
			if (req.HostId == "" || it.GetHostId() == req.HostId) &&
				selectorHolds(sel, labels[it.GetHostId()]) &&
				(req.Kind == 0 || it.GetKind() == req.Kind) &&
				g.holds(string(it.GetKey())) &&
				slices.Contains(statuses, it.GetStatus()) &&
				it.GetSeverity() >= req.MinSeverity &&
				(req.SinceUnixNano == 0 || u >= req.SinceUnixNano) &&
				(req.UntilUnixNano == 0 || u < req.UntilUnixNano) {
				want = append(want, it.GetId())
			}
		}
		maxSize := []int{3, 50, 400}[i%3]
		got := pageAll(t, rng, maxSize, func(size uint32, token string) ([]string, string, error) {
			req.PageSize, req.PageToken = size, token
			resp, err := r.client.ListDrift(ctx, req)
			var ids []string
			for _, it := range resp.GetItems() {
				ids = append(ids, it.GetId())
			}
			return ids, resp.GetNextPageToken(), err
		})
		if !slices.Equal(got, want) {
			t.Fatalf("ListDrift(%v) paged %d items:\n%v\nwant %d (every match once, in (host, kind, key) order):\n%v",
				req, len(got), got, len(want), want)
		}
	}
}

func TestListFactsPagingAndFilters(t *testing.T) {
	r := newRig(t)
	rng := seeded(t)
	ctx := ctxT(t)
	var ds []*plumbv1.Delta
	type key struct {
		kind plumbv1.FactKind
		key  string
	}
	set := map[key]bool{}
	for range 2000 {
		k := key{plumbv1.FactKind_FACT_KIND_SYSCTL, fmt.Sprintf("/%s/%d%s", []string{"a", "b", "c"}[rng.IntN(3)],
			rng.IntN(5000), []string{"", ".conf", "/x"}[rng.IntN(3)])}
		f := sysctl(k.key, "1")
		if rng.IntN(2) == 0 {
			k.kind = plumbv1.FactKind_FACT_KIND_KMOD
			f = kmod(k.key, 1)
		}
		set[k] = true
		ds = append(ds, upsert(f))
	}
	r.apply("web-1", ds...)
	var all []key
	for k := range set {
		all = append(all, k)
	}
	slices.SortFunc(all, func(a, b key) int {
		return strings.Compare(string(fact.Key{Kind: a.kind, ID: a.key}.Encode()), string(fact.Key{Kind: b.kind, ID: b.key}.Encode()))
	})
	for i := range 30 {
		req := &plumbv1.ListFactsRequest{HostId: "web-1"}
		if rng.IntN(2) == 0 {
			req.Kind = []plumbv1.FactKind{plumbv1.FactKind_FACT_KIND_SYSCTL, plumbv1.FactKind_FACT_KIND_KMOD}[rng.IntN(2)]
		}
		g := randomKeyGlob(rng, []string{"a", "b", "c"})
		req.KeyGlob = g.glob
		var want []string
		for _, k := range all {
			if (req.Kind == 0 || k.kind == req.Kind) && g.holds(k.key) {
				want = append(want, fmt.Sprintf("%d:%s", k.kind, k.key))
			}
		}
		got := pageAll(t, rng, []int{5, 100, 3000}[i%3], func(size uint32, token string) ([]string, string, error) {
			req.PageSize, req.PageToken = size, token
			resp, err := r.client.ListFacts(ctx, req)
			var keys []string
			for _, f := range resp.GetFacts() {
				keys = append(keys, fmt.Sprintf("%d:%s", f.GetKind(), f.GetKey()))
			}
			return keys, resp.GetNextPageToken(), err
		})
		if !slices.Equal(got, want) {
			t.Fatalf("ListFacts(%v) paged %d facts, want %d (every match once, in key order)", req, len(got), len(want))
		}
	}
}

func TestListNotifiersPaging(t *testing.T) {
	r := newRig(t)
	rng := seeded(t)
	var list []*plumbv1.NotifierStatus
	var want []string
	for i := range 57 {
		name := fmt.Sprintf("n-%03d", i)
		list = append(list, &plumbv1.NotifierStatus{Name: name})
		want = append(want, name)
	}
	rng.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
	r.srv.SetNotifiers(func() []*plumbv1.NotifierStatus { return list })
	got := pageAll(t, rng, 10, func(size uint32, token string) ([]string, string, error) {
		resp, err := r.client.ListNotifiers(ctxT(t), &plumbv1.ListNotifiersRequest{PageSize: size, PageToken: token})
		var names []string
		for _, n := range resp.GetNotifiers() {
			names = append(names, n.GetName())
		}
		return names, resp.GetNextPageToken(), err
	})
	if !slices.Equal(got, want) {
		t.Fatalf("notifiers paged %v, want %v", got, want)
	}
}

// A page stops at the byte budget (with at least one item), and a filter
// that skips most of a long list ends the call after page.MaxScan entries
// with a token, so that no call reads the whole list.
func TestPageBudgets(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	var ds []*plumbv1.Delta
	long := strings.Repeat("x", 4000)
	r.apply("web-1", upsert(sysctl("first", "1")), checkpoint()) // the baseline
	for i := range 3000 {
		ds = append(ds, upsert(sysctl(fmt.Sprintf("k%05d", i), long)))
	}
	r.apply("web-1", ds...)
	resp, err := r.client.ListDrift(ctx, &plumbv1.ListDriftRequest{HostId: "web-1", State: plumbv1.DriftState_DRIFT_STATE_ALL, PageSize: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.GetItems()); n == 0 || n >= 3000 || resp.GetNextPageToken() == "" {
		t.Errorf("a page of 3000 items of ~4 KB each: %d items, next %q; want the byte budget (%d) to end it early", n, resp.GetNextPageToken(), page.MaxBytes)
	}
	// Nothing matches: the call still ends, having covered at most MaxScan.
	b := page.NewBuilder[*plumbv1.Fact](10, 1<<20, 100)
	var stopped int
	for i := range 1000 {
		if b.Offer([]byte(fmt.Sprintf("%04d", i)), nil, false) != nil {
			stopped = i
			break
		}
	}
	if stopped != 100 || string(b.Next()) != "0099" || len(b.Items()) != 0 {
		t.Errorf("scan budget 100: stopped at %d, next %q, %d items; want 100, \"0099\", 0", stopped, b.Next(), len(b.Items()))
	}
}

func TestListTokensValidated(t *testing.T) {
	r := newRig(t)
	r.seed()
	ctx := ctxT(t)
	first, err := r.client.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: "web-1", PageSize: 1})
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatalf("first page: %v, %v", first, err)
	}
	tok := first.GetNextPageToken()
	hostTok, err := r.client.ListHosts(ctx, &plumbv1.ListHostsRequest{PageSize: 1})
	if err != nil || hostTok.GetNextPageToken() == "" {
		t.Fatalf("hosts page: %v, %v", hostTok, err)
	}
	for _, tc := range []struct {
		name  string
		call  func() error
		wants string
	}{
		{"garbage", func() error {
			_, err := r.client.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: "web-1", PageToken: "!!not base64"})
			return err
		}, "not a token this collector issued"},
		{"truncated", func() error {
			_, err := r.client.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: "web-1", PageToken: tok[:8]})
			return err
		}, "invalid page_token"},
		{"other filters", func() error {
			_, err := r.client.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: "web-1", Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, PageToken: tok})
			return err
		}, "issued for other filters"},
		{"another list", func() error {
			_, err := r.client.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: "web-1", PageToken: hostTok.GetNextPageToken()})
			return err
		}, "issued by another list call"},
		{"drift token of hosts", func() error {
			_, err := r.client.ListDrift(ctx, &plumbv1.ListDriftRequest{PageToken: hostTok.GetNextPageToken()})
			return err
		}, "issued by another list call"},
		{"huge", func() error {
			_, err := r.client.ListHosts(ctx, &plumbv1.ListHostsRequest{PageToken: strings.Repeat("A", 100000)})
			return err
		}, "longer than any"},
		{"bad version", func() error {
			b := []byte(page.Encode(page.Hosts, page.FingerprintOf(&plumbv1.ListHostsRequest{}), []byte("web-1")))
			b[0] = 'B' // first 6 bits of the version byte
			_, err := r.client.ListHosts(ctx, &plumbv1.ListHostsRequest{PageToken: string(b)})
			return err
		}, "version"},
		{"empty key", func() error {
			_, err := r.client.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: "web-1",
				PageToken: page.Encode(page.Facts, page.FingerprintOf(&plumbv1.ListFactsRequest{HostId: "web-1"}), []byte{})})
			return err
		}, "not a position of a fact"},
		{"bad drift position", func() error {
			_, err := r.client.ListDrift(ctx, &plumbv1.ListDriftRequest{
				PageToken: page.Encode(page.Drift, page.FingerprintOf(&plumbv1.ListDriftRequest{}), []byte{200, 1, 'x'})})
			return err
		}, "not a position of a drift item"},
		{"page size", func() error {
			_, err := r.client.ListDrift(ctx, &plumbv1.ListDriftRequest{PageSize: page.MaxSize + 1})
			return err
		}, "list_page_size"},
		{"bad selector", func() error {
			_, err := r.client.ListHosts(ctx, &plumbv1.ListHostsRequest{LabelSelector: "env=a,,role"})
			return err
		}, "label_selector"},
		{"bad selector key", func() error {
			_, err := r.client.ListDrift(ctx, &plumbv1.ListDriftRequest{LabelSelector: "a=b=c!=d"})
			return err
		}, "label_selector"},
		{"bad host glob", func() error {
			_, err := r.client.ListHosts(ctx, &plumbv1.ListHostsRequest{HostGlob: "web-[1"})
			return err
		}, "host_glob"},
		{"bad key glob", func() error {
			_, err := r.client.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: "web-1", KeyGlob: "/etc/{a"})
			return err
		}, "key_glob"},
		{"since after until", func() error {
			_, err := r.client.ListDrift(ctx, &plumbv1.ListDriftRequest{SinceUnixNano: 20, UntilUnixNano: 10})
			return err
		}, "after until"},
		{"negative since", func() error {
			_, err := r.client.ListDrift(ctx, &plumbv1.ListDriftRequest{SinceUnixNano: -1})
			return err
		}, "since_unix_nano"},
		{"include_closed with state", func() error {
			_, err := r.client.ListDrift(ctx, &plumbv1.ListDriftRequest{IncludeClosed: true, State: plumbv1.DriftState_DRIFT_STATE_OPEN})
			return err
		}, "include_closed"},
		{"unknown state", func() error {
			_, err := r.client.ListDrift(ctx, &plumbv1.ListDriftRequest{State: 99})
			return err
		}, "state 99"},
		{"unknown host state", func() error {
			_, err := r.client.ListHosts(ctx, &plumbv1.ListHostsRequest{State: 42})
			return err
		}, "state 42"},
		{"unknown kind", func() error {
			_, err := r.client.ListDrift(ctx, &plumbv1.ListDriftRequest{Kind: 77})
			return err
		}, "kind 77"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), codes.InvalidArgument, tc.wants) })
	}
	// The token still works with the request unchanged, even with another
	// page size.
	resp, err := r.client.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: "web-1", PageSize: 100, PageToken: tok})
	if err != nil || len(resp.GetFacts()) != 3 || resp.GetNextPageToken() != "" {
		t.Fatalf("rest of the facts after the first: %v, %v; want 3 facts and no token", resp, err)
	}
}

// TestListFactsWhileWriting pages through 10,000 facts of a host while
// another goroutine keeps changing it through the drift engine and the
// store, as ingest does: it upserts and deletes keys interleaved with the
// stable ones and modifies stable facts. Every fact present from the first
// page to the last comes back exactly once, in key order, and nothing
// comes back twice.
func TestListFactsWhileWriting(t *testing.T) {
	r := newRig(t)
	rng := seeded(t)
	ctx := ctxT(t)
	const n = 10000
	stable := func(i int) string { return fmt.Sprintf("s.%05d", i) }
	churn := func(i int) string { return fmt.Sprintf("s.%05d.churn", i) }
	var ds []*plumbv1.Delta
	for i := range n {
		ds = append(ds, upsert(sysctl(stable(i), "0")))
		if i%2 == 0 {
			ds = append(ds, upsert(sysctl(churn(i), "0")))
		}
	}
	ds = append(ds, checkpoint())
	r.apply("web-1", ds...)

	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	var commits int
	go func() {
		wrng := rand.New(rand.NewPCG(rng.Uint64(), 1))
		seq := r.seq["web-1"]
		for wctx.Err() == nil {
			err := r.st.Update(context.Background(), func(tx store.Tx) error {
				h, err := tx.Host("web-1")
				if err != nil {
					return err
				}
				for range 50 {
					i := wrng.IntN(n)
					var d *plumbv1.Delta
					switch wrng.IntN(3) {
					case 0:
						d = upsert(sysctl(churn(i), fmt.Sprint(wrng.IntN(100))))
					case 1:
						d = remove(sysctl(churn(i), ""))
					default:
						d = upsert(sysctl(stable(i), fmt.Sprint(wrng.IntN(100))))
					}
					seq++
					d.Seq = seq
					if _, err := r.eng.Apply(tx, h, d); err != nil {
						return err
					}
				}
				return tx.PutHost(h)
			})
			if err != nil {
				done <- err
				return
			}
			commits++
		}
		done <- nil
	}()

	seen := map[string]int{}
	var order []string
	token := ""
	pages := 0
	for {
		resp, err := r.client.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: "web-1", PageSize: uint32(50 + rng.IntN(400)), PageToken: token})
		if err != nil {
			stop()
			t.Fatal(err)
		}
		for _, f := range resp.GetFacts() {
			seen[string(f.GetKey())]++
			order = append(order, string(f.GetKey()))
		}
		pages++
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
		// Let the writer commit between pages, even on a busy machine.
		time.Sleep(time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d pages, %d facts listed, writer committed %d times (50 changes each) meanwhile", pages, len(order), commits)
	if commits < 3 {
		t.Errorf("the writer committed only %d times while paging: the test did not test paging under writes", commits)
	}
	for i := range n {
		if c := seen[stable(i)]; c != 1 {
			t.Errorf("stable fact %s listed %d times, want exactly once", stable(i), c)
		}
	}
	for k, c := range seen {
		if c > 1 {
			t.Errorf("fact %s listed %d times", k, c)
		}
	}
	if !slices.IsSorted(order) {
		t.Error("facts not listed in key order")
	}
}
