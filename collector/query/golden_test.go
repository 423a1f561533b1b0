package query

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// applyGroup is apply for a host labelled group=g.
func (r *rig) applyGroup(host, g string, ds ...*plumbv1.Delta) {
	r.t.Helper()
	err := r.st.Update(context.Background(), func(tx store.Tx) error {
		h, err := tx.Host(host)
		if isNotFound(err) {
			h, err = &store.Host{ID: host, Labels: map[string]string{"group": g}}, nil
		}
		if err != nil {
			return err
		}
		for _, d := range ds {
			r.seq[host]++
			d.Seq = r.seq[host]
			if _, err := r.eng.Apply(tx, h, d); err != nil {
				return err
			}
		}
		return tx.PutHost(h)
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

func TestPromoteBaseline(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	r.applyGroup("web-1", "web", upsert(sysctl("a", "1")), upsert(sysctl("b", "1")), checkpoint())
	r.applyGroup("web-2", "web", upsert(sysctl("a", "2")), upsert(sysctl("b", "1")), checkpoint())
	r.applyGroup("web-3", "web", upsert(sysctl("a", "1")))
	r.applyGroup("db-1", "db", upsert(sysctl("a", "3")), checkpoint())

	ok := &plumbv1.PromoteBaselineRequest{HostId: "web-1", Group: "web", Reason: "golden"}
	for _, tc := range []struct {
		mut  func(*plumbv1.PromoteBaselineRequest)
		code codes.Code
		msg  string
	}{
		{func(q *plumbv1.PromoteBaselineRequest) { q.HostId = "" }, codes.InvalidArgument, "host_id"},
		{func(q *plumbv1.PromoteBaselineRequest) { q.Group = "" }, codes.InvalidArgument, "group"},
		{func(q *plumbv1.PromoteBaselineRequest) { q.Group = strings.Repeat("g", 5000) }, codes.InvalidArgument, "group"},
		{func(q *plumbv1.PromoteBaselineRequest) { q.Reason = "" }, codes.InvalidArgument, "reason"},
		{func(q *plumbv1.PromoteBaselineRequest) { q.KeyGlob = "a[" }, codes.InvalidArgument, "glob"},
		{func(q *plumbv1.PromoteBaselineRequest) { q.Kind = plumbv1.FactKind_FACT_KIND_HEALTH }, codes.InvalidArgument, "health"},
		{func(q *plumbv1.PromoteBaselineRequest) { q.Kind = 99 }, codes.InvalidArgument, "kind"},
		{func(q *plumbv1.PromoteBaselineRequest) { q.HostId = "ghost" }, codes.NotFound, "ghost"},
		{func(q *plumbv1.PromoteBaselineRequest) { q.HostId = "web-3" }, codes.FailedPrecondition, "snapshot"},
	} {
		q := &plumbv1.PromoteBaselineRequest{HostId: ok.HostId, Group: ok.Group, Reason: ok.Reason}
		tc.mut(q)
		_, err := r.client.PromoteBaseline(ctx, q)
		wantCode(t, err, tc.code, tc.msg)
	}
	_, err := r.client.PromoteBaseline(r.asRole(ctx, plumbv1.Role_ROLE_VIEWER, "vera"), ok)
	wantCode(t, err, codes.PermissionDenied, "")
	_, err = r.client.GetGroupBaseline(ctx, &plumbv1.GetGroupBaselineRequest{Group: "web"})
	wantCode(t, err, codes.NotFound, "web")

	resp, err := r.client.PromoteBaseline(r.asRole(ctx, plumbv1.Role_ROLE_OPERATOR, "otto"), ok)
	if err != nil {
		t.Fatal(err)
	}
	b := resp.GetBaseline()
	if resp.GetMembers() != 3 || resp.GetOpened() != 1 || b.GetPromotedBy() != "otto" || b.GetFactCount() != 2 || b.GetGeneration() != 1 {
		t.Errorf("promote = %v", resp)
	}
	drift, err := r.client.ListDrift(ctx, &plumbv1.ListDriftRequest{HostId: "web-2"})
	if err != nil {
		t.Fatal(err)
	}
	if it := drift.GetItems(); len(it) != 1 || string(it[0].GetKey()) != "a" || it[0].GetBaselineGroup() != "web" {
		t.Errorf("web-2 drift = %v", it)
	}
	if _, err := r.client.AcceptDrift(ctx, &plumbv1.AcceptDriftRequest{HostId: "web-2", Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, Key: []byte("a"), Reason: "canary"}); err != nil {
		t.Fatal(err)
	}
	got, err := r.client.GetGroupBaseline(r.asRole(ctx, plumbv1.Role_ROLE_VIEWER, "vic"), &plumbv1.GetGroupBaselineRequest{Group: "web"})
	if err != nil {
		t.Fatal(err)
	}
	g := got.GetBaseline()
	if g.GetMembers() != 3 || len(g.GetExceptions()) != 1 || g.GetExceptions()[0].GetHostId() != "web-2" || g.GetExceptions()[0].GetReason() != "canary" {
		t.Errorf("baseline = %v", g)
	}
}
