package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/fleet"
)

// fleetFacts are hosts the fake compares but does not list: web-2 is
// web-1 with an older /etc/passwd and nginx, and without most files.
func fleetFacts(f *fakeCollector) map[string][]*plumbv1.Fact {
	web1 := f.facts["web-1"]
	web2 := []*plumbv1.Fact{}
	for _, ft := range web1 {
		switch string(ft.GetKey()) {
		case "/etc/passwd":
			web2 = append(web2, fileFact("/etc/passwd", plumbv1.FileType_FILE_TYPE_REGULAR, 0o600, 0, 0, "root:x:0:0::/root:/bin/bash\n", ""))
		case "nginx:amd64":
			web2 = append(web2, packageFact("nginx:amd64", "1.22.1-9", "amd64"))
		case "/etc/nginx", "release", "ext4":
			web2 = append(web2, ft)
		}
	}
	web2 = append(web2, valueFact(plumbv1.FactKind_FACT_KIND_SYSCTL, "vm.swappiness", "10"))
	return map[string][]*plumbv1.Fact{"web-1": web1, "web-2": web2}
}

// DiffHosts compares web-1 and web-2 (fleetFacts) as the collector does,
// in key order, with pages of two unless asked otherwise.
func (f *fakeCollector) DiffHosts(_ context.Context, req *plumbv1.DiffHostsRequest) (*plumbv1.DiffHostsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastList = fmt.Sprintf("DiffHosts host_a=%s host_b=%s kind=%s key_glob=%q page_size=%d",
		req.GetHostA(), req.GetHostB(), req.GetKind(), req.GetKeyGlob(), req.GetPageSize())
	all := fleetFacts(f)
	for _, h := range []string{req.GetHostA(), req.GetHostB()} {
		if _, ok := all[h]; !ok {
			return nil, notFound(h)
		}
	}
	type side struct{ a, b *plumbv1.Fact }
	byKey := map[string]*side{}
	var keys []*plumbv1.Fact
	for i, h := range []string{req.GetHostA(), req.GetHostB()} {
		for _, ft := range all[h] {
			if req.GetKind() != plumbv1.FactKind_FACT_KIND_UNSPECIFIED && ft.GetKind() != req.GetKind() {
				continue
			}
			k := string(rune(ft.GetKind())) + string(ft.GetKey())
			s := byKey[k]
			if s == nil {
				s = &side{}
				byKey[k] = s
				keys = append(keys, ft)
			}
			if i == 0 {
				s.a = ft
			} else {
				s.b = ft
			}
		}
	}
	slices.SortFunc(keys, func(x, y *plumbv1.Fact) int {
		return cmp.Or(cmp.Compare(x.GetKind(), y.GetKind()), bytes.Compare(x.GetKey(), y.GetKey()))
	})
	var diffs []*plumbv1.FactDifference
	for _, ft := range keys {
		s := byKey[string(rune(ft.GetKind()))+string(ft.GetKey())]
		if s.a != nil && s.b != nil && bytes.Equal(s.a.GetDigest(), s.b.GetDigest()) {
			continue
		}
		d := &plumbv1.FactDifference{Kind: ft.GetKind(), Key: ft.GetKey(), A: proto.CloneOf(s.a), B: proto.CloneOf(s.b)}
		if s.a != nil && s.b != nil {
			d.Attributes = fleet.Attributes(s.a, s.b)
		}
		diffs = append(diffs, d)
	}
	size := req.GetPageSize()
	if size == 0 {
		size = 2
	}
	page, next, err := pageOf(diffs, size, req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &plumbv1.DiffHostsResponse{Differences: page, NextPageToken: next}, nil
}

// ListOutliers returns three canned outliers of a group of ten, in pages
// of two unless asked otherwise, and records its filters.
func (f *fakeCollector) ListOutliers(_ context.Context, req *plumbv1.ListOutliersRequest) (*plumbv1.ListOutliersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastList = fmt.Sprintf("ListOutliers label_selector=%q kind=%s key_glob=%q exclude=%q no_default_exclude=%t page_size=%d",
		req.GetLabelSelector(), req.GetKind(), req.GetKeyGlob(), req.GetExclude(), req.GetNoDefaultExclude(), req.GetPageSize())
	file := plumbv1.FactKind_FACT_KIND_FILE
	all := []*plumbv1.Outlier{
		{HostId: "web-3", Kind: file, Key: []byte("/etc/nginx/nginx.conf"), Outlier: plumbv1.OutlierKind_OUTLIER_KIND_MISSING,
			MajorityDigest: bytes.Repeat([]byte{0xaa}, 32), Agree: 8, Hosts: 10},
		{HostId: "web-7", Kind: file, Key: []byte("/etc/nginx/nginx.conf"), Outlier: plumbv1.OutlierKind_OUTLIER_KIND_DIFFERS,
			Digest: bytes.Repeat([]byte{0xbb}, 32), MajorityDigest: bytes.Repeat([]byte{0xaa}, 32), Agree: 8, Hosts: 10},
		{HostId: "web-7\x1b[2J", Kind: file, Key: []byte(nonUTF8Path), Outlier: plumbv1.OutlierKind_OUTLIER_KIND_EXTRA,
			Digest: bytes.Repeat([]byte{0xcc}, 32), Agree: 9, Hosts: 10},
	}
	size := req.GetPageSize()
	if size == 0 {
		size = 2
	}
	page, next, err := pageOf(all, size, req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &plumbv1.ListOutliersResponse{Outliers: page, NextPageToken: next, Hosts: 10}, nil
}
