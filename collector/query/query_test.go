package query

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/auth"
	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// rig is a real bbolt store seeded through the drift engine, served by a
// real gRPC server on a loopback port.
type rig struct {
	t      *testing.T
	st     *store.Bolt
	eng    *drift.Engine
	bc     *Broadcaster
	srv    *Server
	client plumbv1.QueryServiceClient
	seq    map[string]uint64
	auth   *auth.Authority
	// token is the bearer token the client sends unless a call's context
	// carries another (asToken): the bootstrap admin's.
	token string
}

func newRig(t *testing.T, tune ...func(*Server)) *rig {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "plumb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	r := &rig{t: t, st: st, eng: &drift.Engine{Now: func() time.Time { return t0 }}, bc: &Broadcaster{}, seq: map[string]uint64{}}
	r.srv = New(st, r.eng, r.bc, func(id string) bool { return id == "web-1" }, nil)
	for _, f := range tune {
		f(r.srv)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The real authenticating interceptors, with the bootstrap admin
	// token as the client's default credential.
	r.auth = auth.New(st, auth.Options{})
	dir := t.TempDir()
	if _, err := r.auth.Bootstrap(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	tok, err := os.ReadFile(filepath.Join(dir, auth.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	r.token = strings.TrimSpace(string(tok))
	r.srv.SetDigestKey([]byte("0123456789abcdef0123456789abcdef"))
	gs := grpc.NewServer(grpc.UnaryInterceptor(r.auth.UnaryInterceptor), grpc.StreamInterceptor(r.auth.StreamInterceptor))
	plumbv1.RegisterQueryServiceServer(gs, r.srv)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(func() {
		r.srv.Close()
		gs.GracefulStop()
	})
	withToken := func(ctx context.Context) context.Context {
		if md, ok := metadata.FromOutgoingContext(ctx); ok && len(md.Get("authorization")) > 0 {
			return ctx
		}
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+r.token)
	}
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(withToken(ctx), method, req, reply, cc, opts...)
		}),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(withToken(ctx), desc, cc, method, opts...)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	r.client = plumbv1.NewQueryServiceClient(conn)
	return r
}

// asRole returns ctx carrying a new API token of role, named name.
func (r *rig) asRole(ctx context.Context, role plumbv1.Role, name string) context.Context {
	r.t.Helper()
	admin := auth.WithCaller(ctx, auth.Caller{Name: "admin", Role: plumbv1.Role_ROLE_ADMIN})
	resp, err := r.auth.AdminServer().CreateAPIToken(admin, &plumbv1.CreateAPITokenRequest{Role: role, Name: name})
	if err != nil {
		r.t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+resp.GetToken())
}

func sysctl(name, value string) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{
		Kind:  plumbv1.FactKind_FACT_KIND_SYSCTL,
		Key:   []byte(name),
		Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: value}},
	})
}

func kmod(name string, size int64) *plumbv1.Fact {
	return fact.Seal(&plumbv1.Fact{
		Kind:  plumbv1.FactKind_FACT_KIND_KMOD,
		Key:   []byte(name),
		Attrs: &plumbv1.Fact_Kmod{Kmod: &plumbv1.KmodAttrs{Size: size}},
	})
}

func upsert(f *plumbv1.Fact) *plumbv1.Delta {
	return &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: f}
}

func checkpoint() *plumbv1.Delta { return &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_CHECKPOINT} }

// apply commits deltas for host the way ingest does, then notifies.
func (r *rig) apply(host string, ds ...*plumbv1.Delta) {
	r.t.Helper()
	err := r.st.Update(context.Background(), func(tx store.Tx) error {
		h, err := tx.Host(host)
		if errors.Is(err, store.ErrNotFound) {
			h, err = &store.Host{ID: host, Labels: map[string]string{"role": host[:2]}}, nil
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
	r.bc.Notify()
}

// seed: web-1 with drift on a (modified) and b (added), c resolved;
// db-1 clean.
func (r *rig) seed() {
	r.apply("web-1", upsert(sysctl("a", "1")), upsert(sysctl("c", "1")), upsert(kmod("ext4", 100)), checkpoint())
	r.apply("web-1", upsert(sysctl("a", "2")), upsert(sysctl("b", "1")), upsert(sysctl("c", "2")), upsert(sysctl("c", "1")))
	r.apply("db-1", upsert(sysctl("x", "1")), checkpoint())
}

func wantCode(t *testing.T, err error, code codes.Code, contains string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code || !strings.Contains(st.Message(), contains) {
		t.Errorf("error = %v, want code %s containing %q", err, code, contains)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestListHosts(t *testing.T) {
	r := newRig(t)
	r.seed()
	resp, err := r.client.ListHosts(ctxT(t), &plumbv1.ListHostsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range resp.GetHosts() {
		c := h.GetOpenDriftCounts()
		got = append(got, fmt.Sprintf("%s facts=%d open=%d baseline=%v connected=%v seq=%d role=%s digest=%d by-severity=%d/%d/%d health=%d",
			h.GetHostId(), h.GetFactCount(), h.GetOpenDrift(), h.GetHasBaseline(), h.GetConnected(),
			h.GetAppliedSeq(), h.GetLabels()["role"], len(h.GetSetDigest()),
			c.GetCritical(), c.GetWarning(), c.GetInfo(), c.GetHealth()))
	}
	want := []string{
		"db-1 facts=1 open=0 baseline=true connected=false seq=2 role=db digest=32 by-severity=0/0/0 health=0",
		"web-1 facts=4 open=2 baseline=true connected=true seq=8 role=we digest=32 by-severity=0/0/2 health=0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("hosts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestListFacts(t *testing.T) {
	r := newRig(t)
	r.seed()
	ctx := ctxT(t)
	keys := func(req *plumbv1.ListFactsRequest) string {
		resp, err := r.client.ListFacts(ctx, req)
		if err != nil {
			t.Fatalf("ListFacts(%v): %v", req, err)
		}
		var out []string
		for _, f := range resp.GetFacts() {
			out = append(out, string(f.GetKey()))
		}
		return strings.Join(out, ",")
	}
	if got := keys(&plumbv1.ListFactsRequest{HostId: "web-1"}); got != "ext4,a,b,c" {
		t.Errorf("all facts = %s", got)
	}
	if got := keys(&plumbv1.ListFactsRequest{HostId: "web-1", Kind: plumbv1.FactKind_FACT_KIND_SYSCTL}); got != "a,b,c" {
		t.Errorf("sysctl facts = %s", got)
	}
	_, err := r.client.ListFacts(ctx, &plumbv1.ListFactsRequest{HostId: "ghost"})
	wantCode(t, err, codes.NotFound, `host "ghost" not found`)
	_, err = r.client.ListFacts(ctx, &plumbv1.ListFactsRequest{})
	wantCode(t, err, codes.InvalidArgument, "host_id")
}

func TestListDrift(t *testing.T) {
	r := newRig(t)
	r.seed()
	ctx := ctxT(t)
	items := func(req *plumbv1.ListDriftRequest) string {
		resp, err := r.client.ListDrift(ctx, req)
		if err != nil {
			t.Fatalf("ListDrift(%v): %v", req, err)
		}
		var out []string
		for _, it := range resp.GetItems() {
			out = append(out, fmt.Sprintf("%s/%s:%s", it.GetHostId(), it.GetKey(), it.GetStatus().String()[len("DRIFT_STATUS_"):]))
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		req  *plumbv1.ListDriftRequest
		want string
	}{
		{&plumbv1.ListDriftRequest{}, "web-1/a:OPEN web-1/b:OPEN"},
		{&plumbv1.ListDriftRequest{IncludeClosed: true}, "web-1/a:OPEN web-1/b:OPEN web-1/c:RESOLVED"},
		{&plumbv1.ListDriftRequest{HostId: "db-1", IncludeClosed: true}, ""},
		{&plumbv1.ListDriftRequest{HostId: "web-1"}, "web-1/a:OPEN web-1/b:OPEN"},
	} {
		if got := items(tc.req); got != tc.want {
			t.Errorf("ListDrift(%v) = %q, want %q", tc.req, got, tc.want)
		}
	}
	_, err := r.client.ListDrift(ctx, &plumbv1.ListDriftRequest{HostId: "ghost"})
	wantCode(t, err, codes.NotFound, "ghost")
}

func TestAcceptDrift(t *testing.T) {
	r := newRig(t)
	r.seed()
	ctx := ctxT(t)
	for _, tc := range []struct {
		req      *plumbv1.AcceptDriftRequest
		code     codes.Code
		contains string
	}{
		{&plumbv1.AcceptDriftRequest{HostId: "web-1"}, codes.InvalidArgument, "reason"},
		{&plumbv1.AcceptDriftRequest{Reason: "x"}, codes.InvalidArgument, "host_id"},
		{&plumbv1.AcceptDriftRequest{HostId: "web-1", Reason: "x", Key: []byte("a")}, codes.InvalidArgument, "kind"},
		{&plumbv1.AcceptDriftRequest{HostId: "ghost", Reason: "x"}, codes.NotFound, `host "ghost" not found`},
		{&plumbv1.AcceptDriftRequest{HostId: "web-1", Reason: "x", Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, Key: []byte("c")}, codes.NotFound, "no open drift for sysctl:c"},
	} {
		_, err := r.client.AcceptDrift(ctx, tc.req)
		wantCode(t, err, tc.code, tc.contains)
	}

	// Accepted-by is the token's name, not what the request claims.
	resp, err := r.client.AcceptDrift(r.asRole(ctx, plumbv1.Role_ROLE_OPERATOR, "alice"), &plumbv1.AcceptDriftRequest{
		HostId: "web-1", Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, Key: []byte("a"),
		Reason: "tuning ticket 7", AcceptedBy: "mallory",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetAccepted()) != 1 || resp.GetAccepted()[0].GetAcceptedBy() != "alice" ||
		resp.GetAccepted()[0].GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_ACCEPTED {
		t.Errorf("accepted = %v", resp.GetAccepted())
	}
	open, err := r.client.ListDrift(ctx, &plumbv1.ListDriftRequest{HostId: "web-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(open.GetItems()) != 1 || string(open.GetItems()[0].GetKey()) != "b" {
		t.Errorf("open after accepting a: %v", open.GetItems())
	}

	resp, err = r.client.AcceptDrift(ctx, &plumbv1.AcceptDriftRequest{HostId: "web-1", Reason: "all fine"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetAccepted()) != 1 || resp.GetAccepted()[0].GetAcceptedBy() != "admin" {
		t.Errorf("accept all = %v", resp.GetAccepted())
	}
	hosts, err := r.client.ListHosts(ctx, &plumbv1.ListHostsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts.GetHosts() {
		if h.GetOpenDrift() != 0 {
			t.Errorf("host %s open drift %d after accept all", h.GetHostId(), h.GetOpenDrift())
		}
	}
}

func remove(f *plumbv1.Fact) *plumbv1.Delta {
	return &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_DELETE, Fact: &plumbv1.Fact{Kind: f.GetKind(), Key: f.GetKey()}}
}

// An accept that names the value its caller saw is refused, changing
// nothing, once the fact has moved on; it goes through while the value is
// the one seen. An empty digest stands for a removed fact.
func TestAcceptExpectedValue(t *testing.T) {
	r := newRig(t)
	r.apply("web-1", upsert(sysctl("a", "1")), upsert(kmod("ext4", 100)), checkpoint())
	r.apply("web-1", upsert(sysctl("a", "2")), remove(kmod("ext4", 0)))
	ctx := ctxT(t)
	ka := &plumbv1.AcceptDriftRequest{HostId: "web-1", Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, Key: []byte("a"), Reason: "r"}
	kext4 := &plumbv1.AcceptDriftRequest{HostId: "web-1", Kind: plumbv1.FactKind_FACT_KIND_KMOD, Key: []byte("ext4"), Reason: "r"}
	with := func(req *plumbv1.AcceptDriftRequest, digest []byte) *plumbv1.AcceptDriftRequest {
		req = proto.Clone(req).(*plumbv1.AcceptDriftRequest)
		req.Expected = &plumbv1.ExpectedValue{Digest: digest}
		return req
	}
	// state is what a refused accept must leave alone.
	state := func() string {
		var out []string
		err := r.st.View(ctx, func(tx store.ReadTx) error {
			h, err := tx.Host("web-1")
			if err != nil {
				return err
			}
			last, err := tx.LastEventSeq()
			if err != nil {
				return err
			}
			out = append(out, fmt.Sprintf("open=%d events=%d", h.OpenDrift, last))
			if err := tx.Baselines("web-1", func(f *plumbv1.Fact) error {
				out = append(out, fmt.Sprintf("baseline %s=%x", f.GetKey(), f.GetDigest()))
				return nil
			}); err != nil {
				return err
			}
			return tx.DriftItems("web-1", true, func(it *plumbv1.DriftItem) error {
				out = append(out, fmt.Sprintf("item %s %v %x", it.GetKey(), it.GetStatus(), it.GetCurrent().GetDigest()))
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(out, "\n")
	}

	seen := sysctl("a", "2").GetDigest()
	r.apply("web-1", upsert(sysctl("a", "3"))) // after the caller looked
	before := state()
	_, err := r.client.AcceptDrift(ctx, with(ka, seen))
	wantCode(t, err, codes.FailedPrecondition, "changed")
	// The fact exists: expecting it absent is stale too.
	_, err = r.client.AcceptDrift(ctx, with(ka, nil))
	wantCode(t, err, codes.FailedPrecondition, "changed")
	// And the other way round: ext4 is gone, not at its old value.
	_, err = r.client.AcceptDrift(ctx, with(kext4, kmod("ext4", 100).GetDigest()))
	wantCode(t, err, codes.FailedPrecondition, "changed")
	if after := state(); after != before {
		t.Fatalf("a refused accept changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// Expectations name one fact's value; all of a host's drift has many.
	_, err = r.client.AcceptDrift(ctx, &plumbv1.AcceptDriftRequest{HostId: "web-1", Reason: "r", Expected: &plumbv1.ExpectedValue{}})
	wantCode(t, err, codes.InvalidArgument, "expected")

	resp, err := r.client.AcceptDrift(ctx, with(ka, sysctl("a", "3").GetDigest()))
	if err != nil {
		t.Fatalf("accept at the current digest: %v", err)
	}
	if got := resp.GetAccepted(); len(got) != 1 || got[0].GetCurrent().GetValue().GetValue() != "3" {
		t.Errorf("accepted %v, want a at 3", got)
	}
	if _, err := r.client.AcceptDrift(ctx, with(kext4, nil)); err != nil {
		t.Fatalf("accept of a removal, expected absent: %v", err)
	}
	if got := state(); !strings.HasPrefix(got, "open=0 ") || strings.Contains(got, "baseline ext4") {
		t.Errorf("after accepting both:\n%s", got)
	}
}

// A health item is not accepted: it resolves itself when its condition
// clears.
func TestAcceptHealthRefused(t *testing.T) {
	r := newRig(t)
	r.seed()
	err := r.st.Update(ctxT(t), func(tx store.Tx) error {
		h, err := tx.Host("web-1")
		if err != nil {
			return err
		}
		if _, err := r.eng.Health(tx, h, drift.HealthDigest, true, "the agent's set digest differs"); err != nil {
			return err
		}
		return tx.PutHost(h)
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.client.AcceptDrift(ctxT(t), &plumbv1.AcceptDriftRequest{HostId: "web-1", Reason: "x",
		Kind: plumbv1.FactKind_FACT_KIND_HEALTH, Key: []byte("digest")})
	wantCode(t, err, codes.FailedPrecondition, "resolves itself when the condition clears")
}
