package main

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/auth"
)

// fakeBaselineAt is when the fake's baselines were promoted.
var fakeBaselineAt = base.UnixNano()

// PromoteBaseline answers a promotion of group "web" as the collector
// would for the fake's three members; other groups have no members.
func (f *fakeCollector) PromoteBaseline(ctx context.Context, req *plumbv1.PromoteBaselineRequest) (*plumbv1.PromoteBaselineResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.knownLocked(req.GetHostId()) {
		return nil, notFound(req.GetHostId())
	}
	by := ""
	if c, ok := auth.CallerFrom(ctx); ok {
		by = c.Name
	}
	b := &plumbv1.GroupBaseline{
		Group: req.GetGroup(), SourceHostId: req.GetHostId(), PromotedBy: by, Reason: req.GetReason(),
		PromotedUnixNano: fakeBaselineAt, Generation: 1, FactCount: 12,
		Selections: []*plumbv1.BaselineSelection{{Kind: req.GetKind(), KeyGlob: req.GetKeyGlob()}},
	}
	resp := &plumbv1.PromoteBaselineResponse{Baseline: b}
	if req.GetGroup() == "web" {
		resp.Members, resp.Opened, resp.Resolved = 3, 2, 1
	}
	return resp, nil
}

// GetGroupBaseline serves group "web" with one exception whose reason
// holds an escape sequence; any other group has none.
func (f *fakeCollector) GetGroupBaseline(_ context.Context, req *plumbv1.GetGroupBaselineRequest) (*plumbv1.GetGroupBaselineResponse, error) {
	if req.GetGroup() != "web" {
		return nil, status.Errorf(codes.NotFound, "group %q baseline: not found", req.GetGroup())
	}
	return &plumbv1.GetGroupBaselineResponse{Baseline: &plumbv1.GroupBaseline{
		Group: "web", SourceHostId: "web-1", PromotedBy: "ops-token", Reason: "golden after CHG-7",
		PromotedUnixNano: fakeBaselineAt, Generation: 2, FactCount: 12, Members: 3,
		Selections: []*plumbv1.BaselineSelection{{Kind: plumbv1.FactKind_FACT_KIND_FILE, KeyGlob: "/etc/nginx/**"}},
		Exceptions: []*plumbv1.GroupException{{
			HostId: "web-2", Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte("/etc/nginx/nginx.conf"),
			AcceptedBy: "ops-token", Reason: "canary\x1b[31m", AcceptedUnixNano: fakeBaselineAt,
		}},
	}}, nil
}
