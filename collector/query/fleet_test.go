package query

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/limits"
)

// TestListOutliers: seven web hosts (label role=we) and one db host; a
// viewer pages through the outliers one at a time and gets each once, in
// host order, with keyed digests; the db host is not compared.
func TestListOutliers(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	for i := 1; i <= 7; i++ {
		h := fmt.Sprintf("web-%d", i)
		ds := []*plumbv1.Delta{upsert(sysctl("a", "1")), upsert(sysctl("d", "1"))}
		if i != 3 {
			ds = append(ds, upsert(sysctl("b", "1")))
		} else {
			ds = append(ds, upsert(sysctl("b", "2")))
		}
		if i != 5 {
			ds = append(ds, upsert(sysctl("c", "1")))
		}
		if i == 6 {
			ds = append(ds, upsert(sysctl("f", "1")))
		}
		ds = append(ds, upsert(file("/etc/hostname", h, 0o644)))
		r.apply(h, append(ds, checkpoint())...)
	}
	r.apply("db-1", upsert(sysctl("a", "9")), checkpoint())
	// web-8 is still sending its first snapshot: not compared.
	r.apply("web-8", upsert(sysctl("a", "1")))

	viewer := r.asRole(ctx, plumbv1.Role_ROLE_VIEWER, "v")
	var got []string
	var raw []byte
	token := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		resp, err := r.client.ListOutliers(viewer, &plumbv1.ListOutliersRequest{LabelSelector: "role=we", PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetHosts() != 7 || len(resp.GetOutliers()) > 1 {
			t.Fatalf("page %d: hosts=%d, %d outliers", pages, resp.GetHosts(), len(resp.GetOutliers()))
		}
		for _, o := range resp.GetOutliers() {
			got = append(got, fmt.Sprintf("%s %s %s %d/%d", o.GetHostId(), o.GetKey(), o.GetOutlier(), o.GetAgree(), o.GetHosts()))
			if o.GetHostId() == "web-3" {
				raw = o.GetDigest()
			}
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	want := []string{
		"web-3 b OUTLIER_KIND_DIFFERS 6/7",
		"web-5 c OUTLIER_KIND_MISSING 6/7",
		"web-6 f OUTLIER_KIND_EXTRA 6/7",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("outliers:\n got %q\nwant %q", got, want)
	}
	if len(raw) != 32 || bytes.Equal(raw, sysctl("b", "2").GetDigest()) {
		t.Errorf("a viewer sees the raw digest %x", raw)
	}
	admin, err := r.client.ListOutliers(ctx, &plumbv1.ListOutliersRequest{LabelSelector: "role=we", KeyGlob: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(admin.GetOutliers()) != 1 || !bytes.Equal(admin.GetOutliers()[0].GetDigest(), sysctl("b", "2").GetDigest()) {
		t.Errorf("admin, key b: %v", admin.GetOutliers())
	}

	// Without the default exclusions /etc/hostname is compared: seven
	// values, no majority, so nothing more; excluding c hides web-5.
	resp, err := r.client.ListOutliers(ctx, &plumbv1.ListOutliersRequest{LabelSelector: "role=we", NoDefaultExclude: true, Exclude: []string{"c"}})
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, o := range resp.GetOutliers() {
		hosts = append(hosts, o.GetHostId())
	}
	if !slices.Equal(hosts, []string{"web-3", "web-6"}) {
		t.Errorf("exclude c: %q", hosts)
	}

	_, err = r.client.ListOutliers(ctx, &plumbv1.ListOutliersRequest{Exclude: slices.Repeat([]string{"x"}, maxExcludes+1)})
	wantCode(t, err, codes.InvalidArgument, "exclude")
	_, err = r.client.ListOutliers(ctx, &plumbv1.ListOutliersRequest{Exclude: []string{"[a"}})
	wantCode(t, err, codes.InvalidArgument, "not a valid glob")
	_, err = r.client.ListOutliers(ctx, &plumbv1.ListOutliersRequest{LabelSelector: "role=we", PageToken: "garbage"})
	wantCode(t, err, codes.InvalidArgument, "")
}

// TestDiffHosts: pages of any size list the same differences, each once,
// in key order; errors name what is wrong.
func TestDiffHosts(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	var a, b []*plumbv1.Delta
	for i := range 40 {
		k := fmt.Sprintf("k%02d", i)
		switch i % 4 {
		case 0:
			a = append(a, upsert(sysctl(k, "1")))
		case 1:
			b = append(b, upsert(sysctl(k, "1")))
		case 2:
			a, b = append(a, upsert(sysctl(k, "1"))), append(b, upsert(sysctl(k, "2")))
		default:
			a, b = append(a, upsert(sysctl(k, "1"))), append(b, upsert(sysctl(k, "1")))
		}
	}
	r.apply("web-1", append(a, checkpoint())...)
	r.apply("web-2", append(b, checkpoint())...)
	viewer := r.asRole(ctx, plumbv1.Role_ROLE_VIEWER, "v")
	list := func(size uint32) []string {
		var out []string
		token := ""
		for {
			resp, err := r.client.DiffHosts(viewer, &plumbv1.DiffHostsRequest{HostA: "web-1", HostB: "web-2", PageSize: size, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range resp.GetDifferences() {
				out = append(out, fmt.Sprintf("%s a=%t b=%t %s", d.GetKey(), d.GetA() != nil, d.GetB() != nil, strings.Join(d.GetAttributes(), ",")))
			}
			if token = resp.GetNextPageToken(); token == "" {
				return out
			}
		}
	}
	all := list(0)
	if len(all) != 30 || all[0] != "k00 a=true b=false " || all[1] != "k01 a=false b=true " || all[2] != "k02 a=true b=true value" {
		t.Fatalf("diff: %d differences %q", len(all), all)
	}
	for _, size := range []uint32{1, 3, 7} {
		if got := list(size); !slices.Equal(got, all) {
			t.Errorf("page_size %d: %q", size, got)
		}
	}
	_, err := r.client.DiffHosts(ctx, &plumbv1.DiffHostsRequest{HostA: "web-1"})
	wantCode(t, err, codes.InvalidArgument, "host_a and host_b are required")
	_, err = r.client.DiffHosts(ctx, &plumbv1.DiffHostsRequest{HostA: "web-1", HostB: "nope"})
	wantCode(t, err, codes.NotFound, `host "nope"`)
	_, err = r.client.DiffHosts(ctx, &plumbv1.DiffHostsRequest{HostA: "web-1", HostB: "web-2", PageSize: 1 << 20})
	wantCode(t, err, codes.InvalidArgument, "page_size")
	// A token of another list is refused.
	facts, err := r.client.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: "web-1", PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.client.DiffHosts(ctx, &plumbv1.DiffHostsRequest{HostA: "web-1", HostB: "web-2", PageToken: facts.GetNextPageToken()})
	wantCode(t, err, codes.InvalidArgument, "")
}

// One fleet comparison runs at a time: while one holds the scan, another
// is refused ResourceExhausted naming the limit, and counted; after it,
// the next runs.
func TestListOutliersOneAtATime(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	r.apply("web-1", upsert(sysctl("a", "1")), checkpoint())
	r.srv.fleetScan <- struct{}{} // a comparison in progress
	_, err := r.client.ListOutliers(ctx, &plumbv1.ListOutliersRequest{})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "fleet_scans") {
		t.Fatalf("second comparison: %v, want ResourceExhausted naming fleet_scans", err)
	}
	if n := r.srv.lm.Rejected(limits.FleetScans); n != 1 {
		t.Errorf("fleet_scans rejections = %v, want 1", n)
	}
	<-r.srv.fleetScan
	if _, err := r.client.ListOutliers(ctx, &plumbv1.ListOutliersRequest{}); err != nil {
		t.Fatalf("after the first ended: %v", err)
	}
}
